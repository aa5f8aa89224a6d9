"""The DICOM node: the workstation's application entity (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET SCP).

Runs pynetdicom's threaded server beside the HTTP server; each association gets its own thread.
Port 0 binds a free port, exposed as `.port` (tests, several workstations on one host).
"""

from __future__ import annotations

import logging

from pynetdicom import AE, _config, evt
from pynetdicom.presentation import AllStoragePresentationContexts
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from ..station import Station
from . import handlers, tuning

log = logging.getLogger(__name__)

UNCOMPRESSED = [
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired, still sent by old modalities)
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
]
LOSSLESS = [
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.5",  # RLE Lossless
]
LOSSY = [
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.203",  # HTJ2K
]
COMPRESSED = LOSSLESS + LOSSY
# pynetdicom accepts, per context, the first of *our* syntaxes that the peer proposes. Lossless
# compressed first: a peer offering one in the same context as uncompressed usually holds its
# files that way (and so does a C-GET requestor that asks for them); lossy last, so that no peer
# is ever asked to compress lossily because of our preference.
STORAGE_TRANSFER_SYNTAXES = LOSSLESS + UNCOMPRESSED + LOSSY
# What we advertise as our maximum receive PDU: large PDUs mean fewer, cheaper reads per object.
MAX_PDU = 1024 * 1024
QUERY_RETRIEVE = [
    PatientRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove, StudyRootQueryRetrieveInformationModelMove,
    PatientRootQueryRetrieveInformationModelGet, StudyRootQueryRetrieveInformationModelGet,
]


def quiet_pynetdicom_logging() -> None:
    """pynetdicom logs every DIMSE message at INFO through standard handlers bound to each
    association (one copies every received data set just to log that it is present). Unless
    someone asked for its INFO output, its logger is set to WARNING and the handlers are not bound,
    through its public switch `_config.LOG_HANDLER_LEVEL`."""
    chatty = logging.getLogger("pynetdicom")
    if chatty.level == logging.NOTSET:
        chatty.setLevel(logging.WARNING)
    if not chatty.isEnabledFor(logging.INFO):
        _config.LOG_HANDLER_LEVEL = "none"


def configure_timeouts(ae: AE, seconds: float = 30.0) -> None:
    ae.acse_timeout = seconds
    ae.dimse_timeout = seconds
    ae.network_timeout = seconds
    ae.connection_timeout = seconds


def build_ae(settings) -> AE:
    """The application entity with every service the node offers."""
    ae = AE(ae_title=settings.aet)
    ae.maximum_pdu_size = MAX_PDU
    configure_timeouts(ae, 60.0)
    ae.add_supported_context(Verification)
    for context in AllStoragePresentationContexts:
        # Both roles: storescu peers push to us; C-GET requestors take the SCP role themselves.
        ae.add_supported_context(context.abstract_syntax, STORAGE_TRANSFER_SYNTAXES,
                                 scu_role=True, scp_role=True)
    for sop_class in QUERY_RETRIEVE:
        ae.add_supported_context(sop_class, UNCOMPRESSED[:3])
    if settings.accept_calling_aets == "known":
        ae.require_calling_aet = [loc.ae_title for loc in settings.locations if loc.ae_title]
    return ae


class DicomNode:
    """Application entity of the workstation, serving on settings.dicom_port."""

    def __init__(self, workstation: Station):
        self.workstation = workstation
        self.port: int | None = None
        self._server = None

    def start(self) -> None:
        settings = self.workstation.settings
        quiet_pynetdicom_logging()
        ae = build_ae(settings)
        bound = [
            *tuning.event_handlers(),
            (evt.EVT_C_ECHO, handlers.handle_echo),
            (evt.EVT_C_STORE, handlers.handle_store, [self.workstation]),
            (evt.EVT_C_FIND, handlers.handle_find, [self.workstation]),
            (evt.EVT_C_MOVE, handlers.handle_move, [self.workstation]),
            (evt.EVT_C_GET, handlers.handle_get, [self.workstation]),
        ]
        self._server = ae.start_server((settings.host, settings.dicom_port), block=False,
                                       evt_handlers=bound)
        self.port = self._server.server_address[1]
        log.info("DICOM node %s listening on %s:%s", settings.aet, settings.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
