"""Config upload: FTP (both kinds of server), FTPS, and the local folder (CONTRACT §5.1)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.deploy.wire.errors import PhoneStepError
from app.deploy.wire.ftp import (
    FtpTarget,
    LocalFolderTarget,
    config_target_from_settings,
    parse_ftp_url,
)
from app.settings import Settings
from tests.conftest import free_port
from tests.support.ftp_server import FtpServerHandle, run_ftp_server

CONFIG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n<device>\n  <deviceProtocol>SIP</deviceProtocol>'
    b"\n  <!-- \xc3\xa9t\xc3\xa9, tabs\t, CRLF\r\n and trailing spaces -->   \n</device>\n"
)
NAME = "SEPAABBCCDDEE01.cnf.xml"


@pytest.fixture(params=["stock", "overwrite"])
def any_ftp_server(request: pytest.FixtureRequest) -> FtpServerHandle:
    """Both kinds of server: refusing and allowing a rename onto an existing name."""
    name = "ftp_server" if request.param == "stock" else "ftp_server_overwrite"
    return request.getfixturevalue(name)


@pytest.fixture
async def target_for(any_ftp_server: FtpServerHandle) -> AsyncIterator[FtpTarget]:
    target = FtpTarget(any_ftp_server.url, pool_size=4, timeout=5)
    yield target
    await target.close()


async def test_config_arrives_byte_for_byte_and_leaves_no_temporary_file(
    any_ftp_server: FtpServerHandle, target_for: FtpTarget
) -> None:
    await target_for.upload(NAME, CONFIG)

    assert (any_ftp_server.root / NAME).read_bytes() == CONFIG
    assert any_ftp_server.files() == [NAME]


async def test_an_existing_config_is_replaced_on_either_kind_of_server(
    any_ftp_server: FtpServerHandle, target_for: FtpTarget
) -> None:
    (any_ftp_server.root / NAME).write_bytes(b"<device>old</device>")
    (any_ftp_server.root / "SEP000000000001.cnf.xml").write_bytes(b"<device>other</device>")

    await target_for.upload(NAME, CONFIG)
    await target_for.upload(NAME, CONFIG + b"<!-- second -->")

    assert (any_ftp_server.root / NAME).read_bytes() == CONFIG + b"<!-- second -->"
    assert (any_ftp_server.root / "SEP000000000001.cnf.xml").read_bytes() == (
        b"<device>other</device>"
    )
    assert any_ftp_server.files() == ["SEP000000000001.cnf.xml", NAME]


async def test_uploads_reuse_a_few_connections_instead_of_one_per_file(
    ftp_server: FtpServerHandle,
) -> None:
    target = FtpTarget(ftp_server.url, pool_size=3, timeout=5)
    names = [f"SEP0000000000{i:02X}.cnf.xml" for i in range(20)]
    try:
        await asyncio.gather(
            *(target.upload(name, f"<device>{name}</device>".encode()) for name in names)
        )
        await target.upload(names[0], b"<device>again</device>")
    finally:
        await target.close()

    assert 1 <= ftp_server.logins <= 3
    assert ftp_server.files() == sorted(names)
    assert (ftp_server.root / names[0]).read_bytes() == b"<device>again</device>"
    assert (ftp_server.root / names[7]).read_bytes() == f"<device>{names[7]}</device>".encode()


async def test_a_pooled_connection_the_server_dropped_is_replaced_transparently(
    ftp_server: FtpServerHandle,
) -> None:
    target = FtpTarget(ftp_server.url, pool_size=2, timeout=5)
    try:
        await target.upload(NAME, b"<device>1</device>")
        for connection in list(ftp_server.server.connections.values()):
            connection._dispatcher.cancel()  # the server hangs up on its idle client
        await asyncio.sleep(0.05)

        await target.upload(NAME, b"<device>2</device>")
    finally:
        await target.close()

    assert (ftp_server.root / NAME).read_bytes() == b"<device>2</device>"
    assert ftp_server.logins == 2


async def test_credentials_in_the_url_are_percent_decoded(tmp_path: Path) -> None:
    password = "p@ss:w/rd %&?#"
    async with run_ftp_server(tmp_path / "ftp", password=password) as server:
        assert "%40" in server.url
        target = FtpTarget(server.url, timeout=5)
        try:
            await target.upload(NAME, CONFIG)
        finally:
            await target.close()
        assert (server.root / NAME).read_bytes() == CONFIG


async def test_the_url_directory_is_where_configs_go(ftp_server: FtpServerHandle) -> None:
    (ftp_server.root / "tftp").mkdir()
    target = FtpTarget(ftp_server.url_for(directory="tftp"), timeout=5)
    try:
        await target.upload(NAME, CONFIG)
    finally:
        await target.close()

    assert (ftp_server.root / "tftp" / NAME).read_bytes() == CONFIG
    assert not (ftp_server.root / NAME).exists()


async def test_a_missing_directory_is_reported(ftp_server: FtpServerHandle) -> None:
    target = FtpTarget(ftp_server.url_for(directory="nowhere"), timeout=5)
    with pytest.raises(PhoneStepError) as failure:
        await target.upload(NAME, CONFIG)

    # Tenants read job errors: the config server's folders and replies go to the log only.
    assert failure.value.message == "FTP upload failed: cannot open the config directory (550)"
    assert failure.value.detail and "'nowhere'" in failure.value.detail


async def test_refused_login_is_reported(ftp_server_refusing_login: FtpServerHandle) -> None:
    target = FtpTarget(ftp_server_refusing_login.url, timeout=5)
    with pytest.raises(PhoneStepError) as failure:
        await target.upload(NAME, CONFIG)

    assert str(failure.value) == "FTP upload failed: login refused (530)"
    assert ftp_server_refusing_login.files() == []


async def test_wrong_password_is_reported_as_refused_login(ftp_server: FtpServerHandle) -> None:
    target = FtpTarget(ftp_server.url_for(password="wrong"), timeout=5)
    with pytest.raises(PhoneStepError, match=r"^FTP upload failed: login refused \(530\)$"):
        await target.upload(NAME, CONFIG)


async def test_refused_connection_is_reported() -> None:
    port = free_port()
    target = FtpTarget(f"ftp://u:p@127.0.0.1:{port}/", timeout=5)
    with pytest.raises(PhoneStepError) as failure:
        await target.upload(NAME, CONFIG)

    assert str(failure.value) == "FTP upload failed: the config server refused the connection"
    assert failure.value.detail == (
        f"FTP upload to 127.0.0.1:{port} failed: connection refused by 127.0.0.1:{port}"
    )


async def test_permission_denied_is_reported_with_the_server_reply(tmp_path: Path) -> None:
    async with run_ftp_server(tmp_path / "ftp", read_only=True) as server:
        target = FtpTarget(server.url, timeout=5)
        with pytest.raises(PhoneStepError) as failure:
            await target.upload(NAME, CONFIG)
        assert server.files() == []

    assert str(failure.value) == f"FTP upload failed: the server refused to store {NAME} (550)"
    assert failure.value.detail and failure.value.detail.endswith(": 550 permission denied")


async def test_a_server_that_never_answers_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, never greets
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        target = FtpTarget(f"ftp://u:p@127.0.0.1:{port}/", timeout=0.3)
        with pytest.raises(PhoneStepError) as failure:
            await target.upload(NAME, CONFIG)
    finally:
        server.close()

    assert str(failure.value) == "FTP upload failed: no answer from the config server within 0.3 s"
    assert failure.value.detail and f"127.0.0.1:{port}" in failure.value.detail


@pytest.mark.parametrize("name", ["../escape.xml", "dir/file.xml", "", "..", "a\\b", "x\r\ny"])
async def test_file_names_that_are_paths_are_refused(name: str, tmp_path: Path) -> None:
    target = LocalFolderTarget(tmp_path / "tftp")
    with pytest.raises(PhoneStepError, match="invalid config file name"):
        await target.upload(name, CONFIG)
    ftp = FtpTarget("ftp://u:p@127.0.0.1:1/")
    with pytest.raises(PhoneStepError, match="invalid config file name"):
        await ftp.upload(name, CONFIG)
    assert not (tmp_path / "escape.xml").exists()


# ---------------------------------------------------------------- FTPS (implicit TLS)


def _self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for 127.0.0.1 and a client context trusting only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_ftps_upload_with_implicit_tls(tmp_path: Path) -> None:
    server_tls, client_tls = _self_signed_tls(tmp_path)
    async with run_ftp_server(tmp_path / "ftps", ssl=server_tls) as server:
        assert server.url.startswith("ftps://")
        target = FtpTarget(server.url, timeout=5, ssl_context=client_tls)
        try:
            await target.upload(NAME, CONFIG)
            await target.upload(NAME, CONFIG + b"\n")
        finally:
            await target.close()
        assert (server.root / NAME).read_bytes() == CONFIG + b"\n"
        assert server.files() == [NAME]
        assert server.logins == 1


async def test_ftps_with_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    server_tls, _ = _self_signed_tls(tmp_path)
    async with run_ftp_server(tmp_path / "ftps", ssl=server_tls) as server:
        target = FtpTarget(server.url, timeout=5)  # system trust store: does not know it
        with pytest.raises(PhoneStepError) as failure:
            await target.upload(NAME, CONFIG)
        assert server.files() == []
    assert str(failure.value) == "FTP upload failed: TLS with the config server failed"
    assert failure.value.detail and "TLS with 127.0.0.1" in failure.value.detail


# ---------------------------------------------------------------- local folder


async def test_local_folder_upload_is_byte_identical_atomic_and_readable(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "data" / "tftpboot"
    target = LocalFolderTarget(folder)

    await target.upload(NAME, b"<device>old</device>")
    await target.upload(NAME, CONFIG)

    assert (folder / NAME).read_bytes() == CONFIG
    assert sorted(p.name for p in folder.iterdir()) == [NAME]
    assert stat.S_IMODE((folder / NAME).stat().st_mode) & 0o044 == 0o044  # TFTP can read it


async def test_local_folder_that_cannot_be_written_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    target = LocalFolderTarget(blocker)

    with pytest.raises(PhoneStepError) as failure:
        await target.upload(NAME, CONFIG)
    assert str(failure.value).startswith(f"could not write config {NAME} to the config folder: ")
    assert str(tmp_path) not in str(failure.value)  # the server's own paths: log only
    assert failure.value.detail and str(blocker) in failure.value.detail


def test_settings_choose_ftp_when_a_url_is_set_else_the_local_folder(tmp_path: Path) -> None:
    ftp = config_target_from_settings(
        Settings(data_dir=tmp_path, ftp_url="ftps://u%40x:p%3Aw@files.example:2121/tftp")
    )
    local = config_target_from_settings(Settings(data_dir=tmp_path))

    assert isinstance(ftp, FtpTarget)
    assert ftp.location == parse_ftp_url("ftps://u%40x:p%3Aw@files.example:2121/tftp")
    assert (ftp.location.user, ftp.location.password, ftp.location.tls) == ("u@x", "p:w", True)
    assert (ftp.location.host, ftp.location.port, ftp.location.directory) == (
        "files.example",
        2121,
        "tftp",
    )
    assert isinstance(local, LocalFolderTarget)
    assert local.directory == tmp_path / "tftpboot"
