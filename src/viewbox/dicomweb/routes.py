"""The DICOMweb server: QIDO-RS, WADO-RS, STOW-RS under `/dicom-web`, WADO-URI at `/wado`.

Behind the same security middleware as the control API (allow-list, Host, Origin, Bearer/Basic,
TLS); reading needs the `DICOMweb:read` permission and storing `DICOMweb:store` (from this
computer always, from others when listed, as for the control API's destructive methods). Every
request is written to the audit log. Errors are mapped once, here: a status and a plain-text
message (PS3.18 leaves the body free).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route

from ..config import is_loopback
from ..errors import BadRequest, NotFound, TooLarge, ViewboxError
from ..library import dicom_query
from ..permissions import require_allowed
from ..pydicom_setup import lenient_pydicom
from ..render import FrameCache, RenderError, encode_jpeg, encode_png, render_decoded, thumbnail
from . import media, qido, transcode
from .json_model import dataset_json
from .media import (
    DICOM,
    DICOM_JSON,
    EXPLICIT_LITTLE,
    MULTIPART,
    OCTET_STREAM,
    MediaRange,
    NotAcceptable,
    UnsupportedMediaType,
)
from .stow import StowSession

log = logging.getLogger(__name__)

ROOT = "/dicom-web"
READ, STORE = "DICOMweb:read", "DICOMweb:store"
JSON_TYPES = (DICOM_JSON, "application/json")
IMAGE_TYPES = {"image/jpeg": "jpeg", "image/png": "png"}
PIXEL_DATA = 0x7FE00010


def _handler(service: str, permission: str):
    """Wraps a route: permission check, one error mapping, one audit line per request."""
    def wrap(function: Callable) -> Callable:
        @functools.wraps(function)
        async def handle(self: DicomWeb, request: Request) -> Response:
            try:
                self.allow(request, permission)
                response = await function(self, request)
            except ViewboxError as exc:
                response = _error(exc.http_status, exc.message)
            except Exception:  # noqa: BLE001 - logged with an incident id; the client sees only the id
                incident = uuid.uuid4().hex[:12]
                log.exception("DICOMweb request %s failed (incident %s)", request.url.path, incident)
                response = _error(500, f"internal error (incident {incident})")
            self.record(request, service, response)
            return response
        return handle
    return wrap


def _error(status: int, message: str) -> Response:
    return Response(f"{status}: {message}\n", status, media_type="text/plain; charset=utf-8")


def _ranges(request: Request) -> list[MediaRange]:
    return media.parse_accept(request.headers.get("accept"), request.query_params.getlist("accept"))


def _uids(request: Request) -> dict[str, str]:
    """The UIDs named by the path, as matching keys."""
    names = {"study": "StudyInstanceUID", "series": "SeriesInstanceUID", "instance": "SOPInstanceUID"}
    return {names[key]: value for key, value in request.path_params.items() if key in names}


def _level(uids: dict[str, str]) -> str:
    return "IMAGE" if "SOPInstanceUID" in uids else "SERIES" if "SeriesInstanceUID" in uids else "STUDY"


def _frame_numbers(text: str) -> list[int]:
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BadRequest(f"frame numbers must be a comma-separated list of integers, not {text!r}") from None
    if not numbers or any(n < 1 for n in numbers):
        raise BadRequest(f"frame numbers start at 1: {text!r}")
    return numbers


def _dicom_choice(ranges: list[MediaRange], single: bool) -> tuple[bool, str]:
    """(multipart, transfer syntax) for a DICOM retrieval: multipart/related of application/dicom
    (any resource), or a bare application/dicom (one instance). No transfer-syntax parameter
    means Explicit VR Little Endian (PS3.18 8.7.3.5.2); `*` means as stored."""
    for accepted in ranges:
        if accepted.matches(MULTIPART) and accepted.part_type in (None, DICOM, "*/*"):
            return True, accepted.transfer_syntax or EXPLICIT_LITTLE
        if single and accepted.type == DICOM:
            return False, accepted.transfer_syntax or EXPLICIT_LITTLE
        if accepted.type == "*/*":
            return True, EXPLICIT_LITTLE
    raise NotAcceptable("this resource is sent as multipart/related; type=\"application/dicom\""
                        + (" or application/dicom" if single else ""))


class DicomWeb:
    """The DICOMweb routes of one workstation."""

    def __init__(self, workstation, audit):
        self.workstation = workstation
        self.settings = workstation.settings
        self.audit = audit
        self.frames_cache = FrameCache(cache_bytes=64 * 2**20, cached_files=8)

    def routes(self) -> list[BaseRoute]:
        """`/dicom-web/...` and `/wado`, to be placed beside the control API and the web UI."""
        study, series, instance = "/studies/{study}", "/studies/{study}/series/{series}", \
            "/studies/{study}/series/{series}/instances/{instance}"
        inner = [
            Route("/studies", self.studies, methods=["GET", "POST"]),
            Route(study, self.study, methods=["GET", "POST"]),
            Route(study + "/series", self.search, methods=["GET"]),
            Route(study + "/instances", self.search, methods=["GET"]),
            Route(series + "/instances", self.search, methods=["GET"]),
            Route("/series", self.search, methods=["GET"]),
            Route("/instances", self.search, methods=["GET"]),
            Route(series, self.retrieve, methods=["GET"]),
            Route(instance, self.retrieve, methods=["GET"]),
            *(Route(path + "/metadata", self.metadata, methods=["GET"]) for path in (study, series, instance)),
            Route(instance + "/frames/{frames}", self.frames, methods=["GET"]),
            Route(instance + "/bulkdata/{tag}", self.bulkdata, methods=["GET"]),
            *(Route(path + "/rendered", self.rendered, methods=["GET"]) for path in (study, series, instance)),
            Route(instance + "/frames/{frames}/rendered", self.rendered, methods=["GET"]),
            *(Route(path + "/thumbnail", self.thumbnail, methods=["GET"]) for path in (study, series, instance)),
            Route(instance + "/frames/{frames}/thumbnail", self.thumbnail, methods=["GET"]),
        ]
        return [Mount(ROOT, routes=inner), Route("/wado", self.wado_uri, methods=["GET"])]

    # -- security and audit ----------------------------------------------------------------------

    def allow(self, request: Request, permission: str) -> None:
        peer = request.client.host if request.client else ""
        cross_site = request.scope.get("viewbox.cross_site", False)
        require_allowed(self.settings, permission, local=is_loopback(peer) and not cross_site,
                        where="a cross-site web page" if cross_site else peer,
                        user=request.scope.get("viewbox.user"))

    def record(self, request: Request, service: str, response: Response) -> None:
        peer = request.client.host if request.client else None
        params = {"path": request.url.path}
        if request.url.query:
            params["query"] = request.url.query
        failed = response.status_code >= 400
        message = bytes(response.body).decode("utf-8", "replace").strip() if failed and hasattr(response, "body") else None
        try:
            self.audit.record(peer=peer, user=request.scope.get("viewbox.user"), transport="dicomweb",
                              method=service, params=params, status=response.status_code,
                              error=str(response.status_code) if failed else None, message=message)
        except OSError:
            log.warning("the audit log cannot be written")

    def base_url(self, request: Request) -> str:
        """Where clients reach /dicom-web, for RetrieveURLs and BulkDataURIs: the scheme and Host
        they used (the security layer has checked the Host). A Host without a port (dicomweb-client
        sends one) gets the port the request came in on."""
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = request.headers.get("host") or server[0]
        if not host.endswith("]") and ":" not in host.rsplit("]", 1)[-1] and server[1] not in (80, 443):
            host = f"{host}:{server[1]}"
        return f"{request.url.scheme}://{host}{ROOT}"

    # -- QIDO-RS ---------------------------------------------------------------------------------

    async def studies(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.store(request)
        return await self.search(request)

    async def study(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.store(request)
        return await self.retrieve(request)

    @_handler("QIDO-RS", READ)
    async def search(self, request: Request) -> Response:
        media.choose(_ranges(request), JSON_TYPES)
        path = request.url.path
        level = "IMAGE" if path.endswith("/instances") else "SERIES" if path.endswith("/series") else "STUDY"
        query = qido.parse_query(level, request.query_params.multi_items(), _uids(request))
        answers = await run_in_threadpool(qido.search, self.workstation, query, self.base_url(request))
        headers = {}
        if query.unsupported:
            headers["Warning"] = ('299 viewbox "The following attributes are not supported for matching '
                                  f'and were ignored: {", ".join(query.unsupported)}"')
        return _json(answers, headers=headers)

    # -- WADO-RS ---------------------------------------------------------------------------------

    def _images(self, uids: dict[str, str]) -> list[dict]:
        images = dicom_query.images_matching(self.workstation.database, _level(uids), uids)
        if not images:
            raise NotFound(f"no {_level(uids).lower().replace('image', 'instance')} "
                           f"{' / '.join(uids.values())} is stored here")
        return images

    def _path(self, image: dict) -> Path:
        return self.workstation.database.files_dir / image["rel_path"]

    @_handler("WADO-RS", READ)
    async def retrieve(self, request: Request) -> Response:
        uids = _uids(request)
        multipart, wanted = _dicom_choice(_ranges(request), single="SOPInstanceUID" in uids)
        images = await run_in_threadpool(self._images, uids)
        for stored in {image["transfer_syntax_uid"] for image in images}:
            transcode.check_transcodable(stored, wanted)
        if not multipart:
            image = images[0]
            data = await run_in_threadpool(transcode.part10, self._path(image), image["transfer_syntax_uid"], wanted)
            return Response(data, media_type=f"{DICOM}; transfer-syntax={_sent_as(image, wanted)}")
        boundary = media.new_boundary()
        content_type = media.multipart_content_type(DICOM, boundary, None if wanted == "*" else wanted)
        return StreamingResponse(self._dicom_parts(images, wanted, boundary), media_type=content_type)

    def _dicom_parts(self, images: list[dict], wanted: str, boundary: str) -> Iterator[bytes]:
        """The multipart body, one object at a time (read on a worker thread as it is sent)."""
        for image in images:
            data = transcode.part10(self._path(image), image["transfer_syntax_uid"], wanted)
            yield (media.part_header(boundary, f"{DICOM}; transfer-syntax={_sent_as(image, wanted)}")
                   + data + b"\r\n")
        yield media.closing(boundary)

    @_handler("WADO-RS", READ)
    async def metadata(self, request: Request) -> Response:
        media.choose(_ranges(request), JSON_TYPES)
        uids = _uids(request)
        base = self.base_url(request)
        answers = await run_in_threadpool(self._metadata, uids, base)
        return _json(answers)

    def _metadata(self, uids: dict[str, str], base: str) -> list[dict]:
        answers = []
        for image in self._images(uids):
            instance_url = (f"{base}/studies/{image['study_instance_uid']}/series/"
                            f"{image['series_instance_uid']}/instances/{image['sop_instance_uid']}")
            header = _read_header(self._path(image))
            answer = dataset_json(header, functools.partial(_bulkdata_uri, instance_url))
            if image.get("rows"):
                encapsulated = image["transfer_syntax_uid"] not in transcode.UNCOMPRESSED
                vr = "OB" if encapsulated or int(header.get("BitsAllocated", 16)) <= 8 else "OW"
                answer["7FE00010"] = {"vr": vr, "BulkDataURI": f"{instance_url}/bulkdata/7FE00010"}
            answers.append(answer)
        return answers

    @_handler("WADO-RS", READ)
    async def frames(self, request: Request) -> Response:
        numbers = _frame_numbers(request.path_params["frames"])
        single, wanted = self._frame_choice(_ranges(request), len(numbers))
        uids = _uids(request)
        parts = await run_in_threadpool(self._frames, uids, numbers, wanted)
        if single:
            return Response(parts[0][1], media_type=parts[0][0])
        boundary = media.new_boundary()
        part_type = wanted or parts[0][0].split(";")[0]
        return Response(b"".join(media.multipart_body(boundary, parts)),
                        media_type=media.multipart_content_type(part_type, boundary))

    @staticmethod
    def _frame_choice(ranges: list[MediaRange], count: int) -> tuple[bool, str | None]:
        """(a single bare part, the frame media type or None for as stored)."""
        for accepted in ranges:
            if accepted.matches(MULTIPART):
                part = accepted.part_type
                if part in (None, OCTET_STREAM):
                    return False, OCTET_STREAM
                if part == "*/*" or accepted.transfer_syntax == "*":
                    return False, None
                if part.startswith("image/") or part.startswith("video/"):
                    return False, part
            elif accepted.type == "*/*":
                return False, OCTET_STREAM
            elif count == 1 and accepted.type == OCTET_STREAM:
                return True, OCTET_STREAM
        raise NotAcceptable('frames are sent as multipart/related; type="application/octet-stream" '
                            "or in the compressed media type they are stored in")

    def _frames(self, uids: dict[str, str], numbers: list[int], wanted: str | None) -> list[tuple[str, bytes]]:
        image = self._images(uids)[0]
        if not image.get("rows"):
            raise NotFound(f"instance {uids['SOPInstanceUID']} has no pixel data")
        dataset = transcode.read_dataset(self._path(image))
        try:
            return transcode.frames(dataset, numbers, wanted)
        except LookupError as exc:
            raise NotFound(str(exc)) from None

    @_handler("WADO-RS", READ)
    async def bulkdata(self, request: Request) -> Response:
        ranges = _ranges(request)
        uids = _uids(request)
        try:
            tag = int(request.path_params["tag"], 16)
        except ValueError:
            raise BadRequest(f"{request.path_params['tag']!r} is not a tag (GGGGEEEE)") from None
        if tag == PIXEL_DATA:
            image = (await run_in_threadpool(self._images, uids))[0]
            count = int(image.get("number_of_frames") or 1)
            _, wanted = self._frame_choice(ranges, count)
            parts = await run_in_threadpool(self._frames, uids, list(range(1, count + 1)), wanted)
        else:
            media.choose(ranges, [f"{MULTIPART}", OCTET_STREAM])
            parts = [(OCTET_STREAM, await run_in_threadpool(self._bulk_value, uids, tag))]
        boundary = media.new_boundary()
        return Response(b"".join(media.multipart_body(boundary, parts)),
                        media_type=media.multipart_content_type(parts[0][0].split(";")[0], boundary))

    def _bulk_value(self, uids: dict[str, str], tag: int) -> bytes:
        dataset = transcode.read_dataset(self._path(self._images(uids)[0]))
        found = _find_element(dataset, tag)
        if found is None or not isinstance(found.value, (bytes, bytearray)):
            raise NotFound(f"the instance has no bulk data element {tag:08X}")
        return bytes(found.value)

    @_handler("WADO-RS", READ)
    async def rendered(self, request: Request) -> Response:
        media_type, _ = media.choose(_ranges(request), IMAGE_TYPES)
        params = request.query_params
        frame = _frame_numbers(request.path_params["frames"])[0] if "frames" in request.path_params else 1
        center, width = _window(params.get("window"))
        viewport = _viewport(params.get("viewport"))
        quality = _int_param(params, "quality", 90, 1, 100)
        image = _representative(await run_in_threadpool(self._images, _uids(request)))
        body = await run_in_threadpool(self._render, image, frame, center, width, viewport, media_type, quality)
        return Response(body, media_type=media_type)

    def _render(self, image: dict, frame: int, center: float | None, width: float | None,
                viewport: tuple[int, int] | None, media_type: str, quality: int) -> bytes:
        count = int(image.get("number_of_frames") or 1)
        if not image.get("rows") or not 1 <= frame <= count:
            raise NotFound(f"instance {image['sop_instance_uid']} has no frame {frame}")
        try:
            source, decoded = self.frames_cache.frame(self._path(image), frame - 1)
            array, _ = render_decoded(source, decoded, window_center=center, window_width=width)
        except RenderError as exc:
            raise NotAcceptable(f"the instance cannot be rendered: {exc.message}") from exc
        if viewport:
            array = _fit(array, viewport)
        return encode_jpeg(array, quality) if media_type == "image/jpeg" else encode_png(array)

    @_handler("WADO-RS", READ)
    async def thumbnail(self, request: Request) -> Response:
        media.choose(_ranges(request), ["image/jpeg"])
        viewport = _viewport(request.query_params.get("viewport")) or (128, 128)
        image = _representative(await run_in_threadpool(self._images, _uids(request)))

        def draw() -> bytes:
            try:
                return thumbnail(self.frames_cache.open(self._path(image)), size=max(viewport))
            except RenderError as exc:
                raise NotAcceptable(f"the instance cannot be rendered: {exc.message}") from exc

        return Response(await run_in_threadpool(draw), media_type="image/jpeg")

    # -- STOW-RS ---------------------------------------------------------------------------------

    @_handler("STOW-RS", STORE)
    async def store(self, request: Request) -> Response:
        media.choose(_ranges(request), JSON_TYPES)
        content_type = request.headers.get("content-type", "")
        declared = media.parse_media_type(content_type) if content_type else None
        if declared is None or declared.type not in (MULTIPART, DICOM) or (
                declared.type == MULTIPART and declared.part_type not in (None, DICOM)):
            raise UnsupportedMediaType(f"STOW-RS takes multipart/related; type=\"application/dicom\", "
                                       f"not {content_type or 'a body without a Content-Type'}")
        limit = self.settings.dicomweb_max_stow_bytes
        declared_length = request.headers.get("content-length", "")
        if declared_length.isdigit() and int(declared_length) > limit:
            raise TooLarge(f"a STOW-RS body of {declared_length} bytes is over dicomweb_max_stow_bytes ({limit})")
        session = StowSession(self.workstation, request.path_params.get("study"))
        loop = asyncio.get_running_loop()
        size = 0
        if declared.type == DICOM:  # one bare object: a convenience beyond PS3.18
            body = await request.body()
            await loop.run_in_executor(None, session.add, {}, body)
        else:
            reader = media.MultipartReader(media.boundary_of(content_type))
            pending = None
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the STOW-RS body is over dicomweb_max_stow_bytes ({limit})")
                for headers, data in reader.feed(chunk):
                    if pending is not None:
                        await pending  # store in order, one part on the worker while the next arrives
                    pending = loop.run_in_executor(None, session.add, headers, data)
            if pending is not None:
                await pending
            reader.close()
        await loop.run_in_executor(None, session.commit)
        if not session.result.stored and not session.result.failed:
            raise BadRequest("the request holds no DICOM part")
        result = session.result
        return _json(result.response(self.base_url(request), request.path_params.get("study")), result.status)

    # -- WADO-URI --------------------------------------------------------------------------------

    @_handler("WADO-URI", READ)
    async def wado_uri(self, request: Request) -> Response:
        params = {key.lower(): value for key, value in request.query_params.items()}
        if params.get("requesttype", "").upper() != "WADO":
            raise BadRequest("requestType=WADO is required")
        uids = {"StudyInstanceUID": params.get("studyuid", ""), "SeriesInstanceUID": params.get("seriesuid", ""),
                "SOPInstanceUID": params.get("objectuid", "")}
        missing = [name for name, key in (("studyUID", "studyuid"), ("seriesUID", "seriesuid"),
                                          ("objectUID", "objectuid")) if not params.get(key)]
        if missing:
            raise BadRequest(f"missing {', '.join(missing)}")
        if params.get("anonymize", "").lower() == "yes":
            raise BadRequest("anonymize=yes is not supported")
        wanted_types = [t.split(";")[0].strip().lower() for t in params.get("contenttype", "image/jpeg").split(",")]
        content_type = next((t for t in wanted_types if t in (DICOM, *IMAGE_TYPES)), None)
        if content_type is None:
            raise NotAcceptable(f"contentType {params['contenttype']!r}: application/dicom, image/jpeg "
                                "or image/png")
        image = (await run_in_threadpool(self._images, uids))[0]
        if content_type == DICOM:
            wanted = params.get("transfersyntax") or EXPLICIT_LITTLE
            transcode.check_transcodable(image["transfer_syntax_uid"], wanted)
            data = await run_in_threadpool(transcode.part10, self._path(image), image["transfer_syntax_uid"], wanted)
            return Response(data, media_type=DICOM)
        center = _float_param(params, "windowcenter")
        width = _float_param(params, "windowwidth")
        if (center is None) != (width is None):
            raise BadRequest("windowCenter and windowWidth go together")
        rows = _int_param(params, "rows", 0, 1, 65535)
        columns = _int_param(params, "columns", 0, 1, 65535)
        viewport = (columns or rows or 65535, rows or columns or 65535) if rows or columns else None
        frame = _int_param(params, "framenumber", 1, 1, 1_000_000)
        quality = _int_param(params, "imagequality", 90, 1, 100)
        body = await run_in_threadpool(self._render, image, frame, center, width, viewport, content_type, quality)
        return Response(body, media_type=content_type)


def _representative(images: list[dict]) -> dict:
    """The image a study or series is shown by (rendered, thumbnail): the middle one with pixels."""
    pictures = [image for image in images if image.get("rows")]
    if not pictures:
        raise NotFound("nothing here has pixel data to show")
    return pictures[len(pictures) // 2]


def _sent_as(image: dict, wanted: str) -> str:
    return (image["transfer_syntax_uid"] or EXPLICIT_LITTLE) if wanted == "*" else wanted


def _json(value, status: int = 200, headers: dict | None = None) -> Response:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status, headers=headers, media_type=DICOM_JSON)


def _bulkdata_uri(instance_url: str, element) -> str:
    """Where an instance's bulk data element is served."""
    return f"{instance_url}/bulkdata/{element.tag:08X}"


def _read_header(path: Path):
    pydicom = lenient_pydicom()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True, force=True)


def _find_element(dataset, tag: int):
    """The first element with `tag`, at the top level or inside sequences."""
    if tag in dataset:
        return dataset[tag]
    for element in dataset:
        if element.VR == "SQ":
            for item in element.value:
                found = _find_element(item, tag)
                if found is not None:
                    return found
    return None


def _window(text: str | None) -> tuple[float | None, float | None]:
    if not text:
        return None, None
    parts = text.split(",")
    try:
        center, width = float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        raise BadRequest(f"window must be center,width[,function], not {text!r}") from None
    if width <= 0:
        raise BadRequest("the window width must be positive")
    return center, width


def _viewport(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    parts = text.split(",")
    try:
        width, height = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        raise BadRequest(f"viewport must be width,height, not {text!r}") from None
    if not (0 < width <= 8192 and 0 < height <= 8192):
        raise BadRequest("viewport sizes go from 1 to 8192")
    return width, height


def _int_param(params, name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {text!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _float_param(params, name: str) -> float | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise BadRequest(f"{name} must be a number, not {text!r}") from None


def _fit(array, viewport: tuple[int, int]):
    """Scale a rendered picture to fit in the viewport, keeping its proportions."""
    import numpy as np
    from PIL import Image

    picture = Image.fromarray(array)
    scale = min(viewport[0] / picture.width, viewport[1] / picture.height)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return np.asarray(picture.resize(size, Image.Resampling.LANCZOS))
