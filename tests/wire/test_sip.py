"""Restart over SIP and waiting for the phone (CONTRACT §5.3 and §5.4), against the simulator."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest

from app.deploy.wire import sip
from app.deploy.wire.cisco import clear_services_session
from app.deploy.wire.errors import PhoneStepError
from app.deploy.wire.ftp import FtpTarget, LocalFolderTarget
from app.deploy.wire.sip import parse_response, send_reboot_notify, wait_for_restart
from tests.conftest import free_port
from tests.support.fixtures import PhoneSimFactory
from tests.support.ftp_server import FtpServerHandle
from tests.support.phone_sim import folder_fetch, ftp_fetch

MAC = "00:1E:BE:AA:BB:02"
FAST = {"grace": 2.0, "interval": 0.1}


async def test_notify_carries_every_header_rfc_3261_and_the_contract_ask_for(
    phone_sim_factory: PhoneSimFactory,
) -> None:
    phone = await phone_sim_factory(MAC)

    status = await send_reboot_notify(phone.ip, phone.sip_port, 5)

    assert status == 200
    [notify] = phone.requests("NOTIFY")
    assert notify.uri == f"sip:{phone.ip}:{phone.sip_port}"
    assert notify.raw.startswith(f"NOTIFY sip:{phone.ip}:{phone.sip_port} SIP/2.0\r\n".encode())
    assert notify.raw.endswith(b"\r\n\r\n")
    via = notify.header("Via") or ""
    assert re.fullmatch(r"SIP/2\.0/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK\w+;rport", via)
    assert notify.header("Max-Forwards") == "70"
    assert re.search(r";tag=\w+", notify.header("From") or "")
    assert notify.header("To") == f"<sip:{phone.ip}:{phone.sip_port}>"
    assert notify.header("Call-ID")
    assert notify.header("CSeq") == "1 NOTIFY"
    assert (notify.header("Contact") or "").startswith("<sip:")
    assert notify.header("Event") == "check-sync;reboot=true"
    assert notify.header("Subscription-State") == "terminated"
    assert notify.header("Content-Length") == "0"


async def test_a_lost_notify_is_retransmitted_identically(
    phone_sim_factory: PhoneSimFactory,
) -> None:
    phone = await phone_sim_factory(MAC, sip_behaviour="drop_first_notify")

    assert await send_reboot_notify(phone.ip, phone.sip_port, 5) == 200

    first, second = phone.requests("NOTIFY")
    assert first.raw == second.raw  # same transaction: same branch, Call-ID, CSeq
    assert [e.detail for e in phone.entries("NOTIFY")] == ["dropped", "200"]
    assert phone.reboots == 1


async def test_a_provisional_answer_keeps_the_transaction_waiting_for_the_final_one(
    phone_sim_factory: PhoneSimFactory,
) -> None:
    phone = await phone_sim_factory(MAC, notify_delay=0.7)

    assert await send_reboot_notify(phone.ip, phone.sip_port, 5) == 200

    details = [e.detail for e in phone.entries("NOTIFY")]
    assert details[0] == "100" and details[-1] == "200"
    assert phone.reboots == 1


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (481, "phone rejected the NOTIFY: 481 Call/Transaction Does Not Exist"),
        (486, "phone rejected the NOTIFY: 486 Busy Here"),
        (603, "phone rejected the NOTIFY: 603 Decline"),
    ],
)
async def test_a_rejected_notify_names_the_status(
    phone_sim_factory: PhoneSimFactory, code: int, message: str
) -> None:
    phone = await phone_sim_factory(MAC, sip_behaviour="reject_notify", reject_code=code)

    with pytest.raises(PhoneStepError) as failure:
        await send_reboot_notify(phone.ip, phone.sip_port, 5)

    assert str(failure.value) == message
    assert phone.reboots == 0


async def test_an_unanswered_notify_is_retransmitted_then_given_up(
    phone_sim_factory: PhoneSimFactory,
) -> None:
    phone = await phone_sim_factory(MAC, sip_behaviour="ignore_notify")

    with pytest.raises(PhoneStepError) as failure:
        await send_reboot_notify(phone.ip, phone.sip_port, 1.2)

    assert str(failure.value) == "phone unreachable: no answer to NOTIFY after 1.2 s"
    notifies = phone.requests("NOTIFY")
    assert len(notifies) >= 2  # sent at 0, 0.5 s, 1.5 s...: at least the first retry
    assert len({n.raw for n in notifies}) == 1


async def test_nothing_listening_on_the_sip_port_is_reported() -> None:
    port = free_port()
    with pytest.raises(PhoneStepError) as failure:
        await send_reboot_notify("127.0.0.1", port, 0.8)

    assert str(failure.value) == (
        f"phone unreachable: no answer to NOTIFY after 0.8 s (nothing listens on 127.0.0.1:{port})"
    )


async def test_port_unreachable_fails_the_notify_at_once_without_retransmitting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The kernel answers a datagram to a closed port with ICMP "port unreachable": the
    # server knows at once that nothing listens, so it neither retransmits nor waits
    # the whole transaction out (the 30 s limit here would be the wait otherwise).
    sent: list[bytes] = []
    original_send = sip._SipPeer.send

    def counting_send(self: sip._SipPeer, message: bytes) -> None:
        sent.append(message)
        original_send(self, message)

    monkeypatch.setattr(sip._SipPeer, "send", counting_send)
    port = free_port()
    with pytest.raises(PhoneStepError) as failure:
        async with asyncio.timeout(25):  # a hang guard only: a regression fails, not stalls
            await send_reboot_notify("127.0.0.1", port, 30)

    assert str(failure.value) == (
        f"phone unreachable: no answer to NOTIFY after 30.0 s (nothing listens on 127.0.0.1:{port})"
    )
    assert len(sent) == 1  # the first NOTIFY's ICMP answer ended the transaction


async def test_unknown_host_is_reported() -> None:
    with pytest.raises(PhoneStepError, match="unknown host 'no-such-phone.invalid'"):
        await send_reboot_notify("no-such-phone.invalid", 5060, 1)


async def test_the_phone_is_back_once_it_answers_after_missing_probes(
    phone_sim_factory: PhoneSimFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "tftpboot"
    phone = await phone_sim_factory(MAC, config_fetch=folder_fetch(folder), reboot_seconds=0.4)
    await LocalFolderTarget(folder).upload(phone.config_name, b"<device>new</device>")

    await send_reboot_notify(phone.ip, phone.sip_port, 5)
    message = await wait_for_restart(phone.ip, phone.sip_port, 5, **FAST)

    assert message == "phone restarted and is back online"
    options = [e.detail for e in phone.entries("OPTIONS")]
    assert "unanswered" in options and options[-1] == "200"
    assert phone.fetched_configs == [b"<device>new</device>"]
    assert len({r.header("Call-ID") for r in phone.requests("OPTIONS")}) == len(options)


async def test_a_phone_that_never_goes_down_ends_the_wait_after_the_grace_period(
    phone_sim_factory: PhoneSimFactory,
) -> None:
    phone = await phone_sim_factory(MAC, sip_behaviour="no_restart")

    await send_reboot_notify(phone.ip, phone.sip_port, 5)
    message = await wait_for_restart(phone.ip, phone.sip_port, 5, grace=0.5, interval=0.1)

    assert "did not appear to restart" in message
    assert {e.detail for e in phone.entries("OPTIONS")} == {"200"}


async def test_a_phone_that_never_comes_back_fails_after_the_timeout(
    phone_sim_factory: PhoneSimFactory,
) -> None:
    phone = await phone_sim_factory(MAC, sip_behaviour="never_back")

    await send_reboot_notify(phone.ip, phone.sip_port, 5)
    with pytest.raises(PhoneStepError) as failure:
        await wait_for_restart(phone.ip, phone.sip_port, 0.8, **FAST)

    assert str(failure.value) == "phone did not come back within 0.8 s"
    assert len(phone.entries("OPTIONS")) >= 3


async def test_the_whole_restart_over_ftp_in_contract_order(
    phone_sim_factory: PhoneSimFactory, ftp_server: FtpServerHandle
) -> None:
    """Upload, clear the session, restart; the phone fetches the new config while down."""
    phone = await phone_sim_factory(
        MAC, config_fetch=ftp_fetch(ftp_server.url), web_username="cisco", web_password="c1sco"
    )
    config = b'<?xml version="1.0"?>\n<device><loadInformation/></device>\n'
    target = FtpTarget(ftp_server.url, timeout=5)
    try:
        await target.upload(phone.config_name, config)
    finally:
        await target.close()

    async with aiohttp.ClientSession() as http:
        await clear_services_session(http, phone.ip, phone.http_port, "cisco", "c1sco", 5)
    await send_reboot_notify(phone.ip, phone.sip_port, 5)
    await wait_for_restart(phone.ip, phone.sip_port, 5, **FAST)

    assert phone.fetched_configs == [config]
    kinds = [k for k in phone.kinds() if k != "OPTIONS"]
    assert kinds == ["CGI", "NOTIFY", "REBOOT", "FETCH", "REBOOT"]
    assert [e.detail for e in phone.entries("REBOOT")] == ["down", "up"]


def test_responses_are_parsed_with_compact_headers_and_folding() -> None:
    response = parse_response(
        b"SIP/2.0 202 Accepted\r\nv: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport=5060,"
        b" SIP/2.0/UDP proxy;branch=z9hG4bKother\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKthird\r\n"
        b"i: call-1\r\nCSeq: 7\r\n NOTIFY\r\nl: 0\r\n\r\n"
    )

    assert response is not None
    assert (response.status, response.reason) == (202, "Accepted")
    assert response.branch == "z9hG4bKabc"
    assert response.headers["call-id"] == "call-1"
    assert response.cseq == (7, "NOTIFY")
    assert parse_response(b"OPTIONS sip:x SIP/2.0\r\n\r\n") is None
