"""The restart NOTIFY and the OPTIONS probes against SIPp, a SIP stack written elsewhere.

SIPp runs as the phone (UAS mode) with a scenario answering 200 to a NOTIFY or an
OPTIONS. Its exit status and error trace prove our requests are well-formed for it.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from app.deploy.wire.sip import send_reboot_notify, wait_for_restart
from tests.conftest import free_port

RESPONSE = """
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>"""

# Every request we send opens a new call in SIPp's eyes (each has its own Call-ID):
# the scenario takes either a NOTIFY or an OPTIONS and answers it with 200.
SCENARIO = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="phone answering the restart NOTIFY and OPTIONS probes">
  <recv request="OPTIONS" optional="true" next="options"/>
  <recv request="NOTIFY"/>
  <send next="done">{RESPONSE}
  </send>
  <label id="options"/>
  <send>{RESPONSE}
  </send>
  <label id="done"/>
</scenario>
"""

SippStarter = Callable[..., Awaitable[asyncio.subprocess.Process]]


def _udp_port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@pytest.fixture
async def sipp(tmp_path: Path) -> AsyncIterator[SippStarter]:
    """``await sipp(port, calls=N)`` starts SIPp answering on 127.0.0.1:port."""
    executable = shutil.which("sipp")
    if executable is None:
        pytest.skip("sipp not installed")
    scenario = tmp_path / "phone.xml"
    scenario.write_text(SCENARIO)
    started: list[asyncio.subprocess.Process] = []

    async def start(port: int, *, calls: int | None = None) -> asyncio.subprocess.Process:
        args = [
            executable, "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port),
            "-nostdin", "-trace_err", "-error_file", str(tmp_path / f"errors-{port}.log"),
        ]  # fmt: skip
        if calls is not None:
            args += ["-m", str(calls)]
        process = await asyncio.create_subprocess_exec(
            *args,
            cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        started.append(process)
        deadline = time.monotonic() + 10
        while not _udp_port_taken(port):
            if process.returncode is not None or time.monotonic() > deadline:
                stderr = await process.stderr.read() if process.stderr else b""
                pytest.fail(f"sipp did not start: {stderr.decode(errors='replace')}")
            await asyncio.sleep(0.02)
        return process

    yield start
    for process in started:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()


def _sipp_errors(tmp_path: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in tmp_path.glob("errors-*.log"))


async def test_sipp_accepts_the_notify_and_the_phone_comes_back(
    sipp: SippStarter, tmp_path: Path
) -> None:
    port = free_port()
    phone = await sipp(port, calls=1)  # answers the NOTIFY, then "reboots" (exits)

    assert await send_reboot_notify("127.0.0.1", port, 5) == 200
    assert await asyncio.wait_for(phone.wait(), 10) == 0  # its one call succeeded

    waiting = asyncio.create_task(wait_for_restart("127.0.0.1", port, 10, interval=0.2))
    await asyncio.sleep(0.6)  # a few probes go unanswered while the phone is down
    assert not waiting.done()
    await sipp(port)  # the phone is up again
    message = await waiting

    assert message == "phone restarted and is back online"
    assert _sipp_errors(tmp_path).strip() == ""


async def test_sipp_answering_every_probe_ends_the_wait_after_the_grace_period(
    sipp: SippStarter, tmp_path: Path
) -> None:
    port = free_port()
    phone = await sipp(port, calls=50)

    message = await wait_for_restart("127.0.0.1", port, 10, grace=0.6, interval=0.1)

    assert "did not appear to restart" in message
    assert phone.returncode is None  # still serving
    assert _sipp_errors(tmp_path).strip() == ""
