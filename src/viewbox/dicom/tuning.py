"""Everything the DICOM node changes inside pynetdicom to receive and answer C-STOREs faster, behind
one entry point: `event_handlers()`, bound on every association the node opens or accepts.

The tuning reaches into pynetdicom's internals (instance attributes of its association, DIMSE and
DUL providers and transport), so it is applied only when the installed pynetdicom is a version it
was measured and tested with (`TESTED_VERSIONS`, matching the bound in pyproject.toml) and every
internal it touches is there (`missing_internals()`, also asserted by a test). Otherwise the node
runs stock pynetdicom, slower but correct, and says so once in the log. A failure while tuning one
association leaves that association stock; it never fails a request.

What it does (each measured on a bare receiver, 526 kB CT files, 128 KiB PDUs):

- At connection: TCP_NODELAY (else every DIMSE message waits ~40 ms for an ACK on loopback), and
  PDUs read with one `recv_into` buffer instead of 4 KiB reads glued together (~130 calls and
  copies per object).
- On the first C-STORE request of an association ("storing"): pynetdicom's DUL idle sleep drops
  from 1 to 0.2 ms (134 → ~200 files/s; not at connection: an idle association would then cost
  ~12% of a core). When we are the acceptor, the association is also quickened: its DUL thread
  waits for the peer's bytes in select() instead of sleeping between polls (~+7%), its association
  thread waits on the DIMSE message queue instead of polling it every 1 ms (~+10%), and a plain
  success response is encoded directly (encoding.store_success, byte-identical) and written to
  the socket by the association thread instead of being queued for the DUL thread (~1 ms each).

pynetdicom's standard logging handlers (which copy every received data set to log that it is
present) are switched off through its public configuration, `_config.LOG_HANDLER_LEVEL`, by
`quiet_pynetdicom_logging`, not here.
"""

from __future__ import annotations

import functools
import logging
import queue
import select
import socket
import ssl

from pynetdicom import AE, __version__, evt, fsm
from pynetdicom.association import Association
from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.transport import AssociationSocket

from .encoding import p_data_tf, store_success

log = logging.getLogger(__name__)

# pynetdicom releases (major.minor) this module was measured and tested with; pyproject.toml
# bounds the dependency to them. A new release: run tests/test_dicom_tuning.py and the bench.
TESTED_VERSIONS = ("3.0",)

# DUL idle sleep of a storing association (pynetdicom's default: 1 ms).
DUL_LOOP_DELAY = 0.0002
# A quickened association thread waits at most this long on the message queue, so that release
# and abort are still noticed promptly.
MESSAGE_WAIT = 0.005
# A quickened DUL thread waits in select() at most this long for the peer's next bytes; what the
# node itself queues for sending (not a C-STORE success) waits at most this long.
SOCKET_WAIT = 0.001

# (object reached from a live association, attribute) for every internal used below.
_INTERNALS = {
    "association": ("dul", "dimse", "is_acceptor", "get_handlers"),
    "dul": ("socket", "_run_loop_delay", "state_machine", "to_provider_queue", "send_pdu"),
    "dul.state_machine": ("current_state",),
    "dimse": ("msg_queue", "get_msg", "send_msg", "dimse_timeout", "maximum_pdu_size", "dul"),
    "transport": ("socket", "recv", "ready", "_is_connected", "event_queue"),
    "P_DATA()": ("presentation_data_value_list",),
}


def missing_internals() -> list[str]:
    """The pynetdicom internals this module uses that the installed pynetdicom lacks."""
    assoc = Association(AE(), "acceptor")
    ours, theirs = socket.socketpair()
    try:
        objects = {
            "association": assoc, "dul": assoc.dul, "dul.state_machine": assoc.dul.state_machine,
            "dimse": assoc.dimse, "transport": AssociationSocket(assoc, client_socket=ours),
            "P_DATA()": P_DATA(),
        }
        missing = [f"{name}.{attribute}" for name, attributes in _INTERNALS.items()
                   for attribute in attributes if not hasattr(objects[name], attribute)]
    finally:
        ours.close()
        theirs.close()
    if not isinstance(getattr(AssociationSocket, "ready", None), property):
        missing.append("AssociationSocket.ready (a property)")
    if "Sta6" not in getattr(fsm, "STATES", {}):
        missing.append("fsm.STATES['Sta6'] (data transfer state)")
    return missing


@functools.cache
def active() -> bool:
    """Whether the tuning applies to this pynetdicom (decided and logged once per process)."""
    version = ".".join(__version__.split(".")[:2])
    if version not in TESTED_VERSIONS:
        log.warning("pynetdicom %s is not a version the DICOM node's tuning was tested with (%s): "
                    "running stock pynetdicom (correct, slower C-STORE)", __version__,
                    ", ".join(TESTED_VERSIONS))
        return False
    try:
        missing = missing_internals()
    except Exception as exc:  # noqa: BLE001 - any surprise means: stay stock
        missing = [f"({type(exc).__name__}: {exc})"]
    if missing:
        log.warning("pynetdicom %s lacks internals the DICOM node's tuning uses (%s): running stock "
                    "pynetdicom (correct, slower C-STORE)", __version__, ", ".join(missing))
        return False
    return True


def event_handlers() -> list:
    """The (event, handler) pairs to bind on an association or AE; none when running stock."""
    if not active():
        return []
    return [(evt.EVT_CONN_OPEN, _connected), (evt.EVT_DIMSE_RECV, _received)]


@functools.cache
def _failed_once(what: str) -> None:
    log.warning("could not tune a DICOM association (%s); it runs stock pynetdicom", what,
                exc_info=True)


def _connected(event) -> None:
    """EVT_CONN_OPEN: no Nagle; PDUs read in whole."""
    try:
        transport = event.assoc.dul.socket
        transport.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.recv = _whole_reads(transport)
    except Exception:  # noqa: BLE001 - stock reads are correct, only slower
        _failed_once("connection")


def _received(event) -> None:
    """EVT_DIMSE_RECV (DUL thread): the first C-STORE request makes the association a storing one."""
    if type(event.message) is not C_STORE_RQ:
        return
    assoc = event.assoc
    try:
        dul = assoc.dul
        dul._run_loop_delay = min(dul._run_loop_delay, DUL_LOOP_DELAY)
        if assoc.is_acceptor:  # (a C-GET requestor pauses its reactor around each request)
            _quicken(assoc)
    except Exception:  # noqa: BLE001 - whatever was not replaced stays stock
        _failed_once("storing")


def _whole_reads(transport):
    """A replacement for AssociationSocket.recv that fills one buffer with recv_into. Same
    contract: block until `nr_bytes` arrived; on a closed connection return what came."""

    def recv(nr_bytes: int) -> bytearray:
        sock = transport.socket
        buffer = bytearray(nr_bytes)
        view = memoryview(buffer)
        received = 0
        try:
            while received < nr_bytes:
                count = sock.recv_into(view[received:], nr_bytes - received)
                if not count:
                    break
                received += count
        finally:
            view.release()
        if received < nr_bytes:
            del buffer[received:]
        return buffer

    return recv


def _quicken(assoc) -> None:
    """Replace this association's DIMSE `get_msg`/`send_msg` (instance attributes; pynetdicom's
    classes are untouched) and make its transport a _WaitingSocket (see the module docstring)."""
    dimse = assoc.dimse
    if getattr(dimse, "_viewbox_quick", False):
        return
    messages = dimse.msg_queue
    send_msg = dimse.send_msg

    def get_msg(block: bool = False):
        try:
            return messages.get(timeout=dimse.dimse_timeout if block else MESSAGE_WAIT)
        except queue.Empty:
            return None, None

    def send(primitive, context_id: int) -> None:
        command = store_success(primitive)
        limit = dimse.maximum_pdu_size
        if (command is None or assoc.get_handlers(evt.EVT_DIMSE_SENT)
                or (limit and len(command) + 7 > limit)):
            send_msg(primitive, context_id)
            return
        dul = dimse.dul
        if (dul.state_machine.current_state == "Sta6" and dul.to_provider_queue.empty()
                and not assoc.get_handlers(evt.EVT_PDU_SENT)):
            # Straight onto the socket from this thread: the DUL thread would take it from its
            # queue only after its next idle wait. Nothing else is being sent meanwhile: the
            # queue is empty and the peer waits for this answer before its next request.
            dul.socket.send(p_data_tf(context_id, b"\x03" + command))
            return
        pdata = P_DATA()
        pdata.presentation_data_value_list.append((context_id, b"\x03" + command))
        dul.send_pdu(pdata)

    transport = assoc.dul.socket
    dimse.get_msg = get_msg
    dimse.send_msg = send
    dimse._viewbox_quick = True
    if type(transport) is AssociationSocket:
        transport.__class__ = _WaitingSocket
        assoc.dul._run_loop_delay = 0


class _WaitingSocket(AssociationSocket):
    """An association socket whose `ready` waits up to SOCKET_WAIT for data (see _quicken)."""

    @property
    def ready(self) -> bool:
        sock = self.socket
        if sock is None or self._is_connected is False:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            ready, _, _ = select.select([sock], [], [], SOCKET_WAIT)
        except (OSError, TimeoutError, ValueError):
            self.event_queue.put("Evt17")  # transport connection closed
            return False
        return bool(ready)
