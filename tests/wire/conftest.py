from tests.support.fixtures import (  # noqa: F401
    ftp_server,
    ftp_server_overwrite,
    ftp_server_refusing_login,
    phone_sim_factory,
)
