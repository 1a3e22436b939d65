"""How the server talks to phones (CONTRACT §5): config targets (FTP or a local folder),
Cisco's HTTP CGI, SIP NOTIFY and OPTIONS over UDP. Nothing here knows GraphQL or the
database."""
