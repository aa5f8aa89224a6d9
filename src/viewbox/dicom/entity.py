"""The workstation's application entity: the services and transfer syntaxes it offers, its limits
and timeouts, and which calling AE titles it accepts (built in the node's process, node_process.py)."""

from __future__ import annotations

import logging

from pynetdicom import AE, _config
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

from ..config import accepted_calling_aets
from ..transfer_syntaxes import LOSSLESS, LOSSY, UNCOMPRESSED

log = logging.getLogger(__name__)

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
    """The application entity with every service the node offers.

    A connection that has not asked for an association within `dicom_associate_timeout` seconds is
    closed (pynetdicom's ACSE timeout, which also bounds release), so idle connections cannot hold
    the `dicom_max_associations` places for long.
    """
    ae = AE(ae_title=settings.aet)
    ae.maximum_pdu_size = MAX_PDU
    configure_timeouts(ae, 60.0)
    ae.acse_timeout = settings.dicom_associate_timeout
    ae.maximum_associations = settings.dicom_max_associations
    ae.add_supported_context(Verification)
    for context in AllStoragePresentationContexts:
        # Both roles: storescu peers push to us; C-GET requestors take the SCP role themselves.
        ae.add_supported_context(context.abstract_syntax, STORAGE_TRANSFER_SYNTAXES,
                                 scu_role=True, scp_role=True)
    for sop_class in QUERY_RETRIEVE:
        ae.add_supported_context(sop_class, UNCOMPRESSED[:3])
    return ae


def calling_aet_check(settings):
    """An EVT_REQUESTED handler refusing calling AE titles the settings do not accept (None when
    any is accepted). pynetdicom's own `require_calling_aet` cannot refuse everyone: an empty list
    there means anyone."""
    accepted = accepted_calling_aets(settings)
    if accepted is None:
        return None
    known = {title.strip() for title in accepted}

    def check(event) -> None:
        calling = str(event.assoc.requestor.primitive.calling_ae_title).strip()
        if calling not in known:
            log.warning("refused an association from unknown calling AE title %r (%s)", calling,
                        event.assoc.requestor.address)
            # rejected-permanent, by the service user: calling AE title not recognised; then
            # ended as pynetdicom ends the associations it rejects itself (once the reply is out)
            event.assoc.acse.send_reject(0x01, 0x01, 0x03)
            event.assoc.kill()

    return check
