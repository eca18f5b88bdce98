import io
import os

from werkzeug.exceptions import BadRequest, Forbidden, NotFound
from werkzeug.http import parse_range_header

from odoo import fields, http
from odoo.exceptions import AccessError, MissingError
from odoo.http import request

from ..models.telephony_call import MAX_ZIP_CALLS
from ..telephony.recordings import ZIP_NAME, ZipMember, parse_ids, zip_stream


class TelephonyRecordingController(http.Controller):
    """Play and download call recordings (F25, B7).

    Only telephony users with the right of one of their groups, on calls they
    may read; every playback and download is written to the recording access
    log.  The checks and the log are model methods of
    ``telephony.recording.access``; this controller maps their errors to
    HTTP statuses and streams the files.
    """

    def _check(self, call_ids, kind):
        try:
            return request.env["telephony.recording.access"]._check_calls(call_ids, kind)
        except AccessError as exc:
            raise Forbidden(str(exc)) from None
        except MissingError as exc:
            raise NotFound(str(exc)) from None

    def _log(self, calls, kind, continued=False):
        request.env["telephony.recording.access"]._log(
            calls, kind, continued=continued, ip_address=request.httprequest.remote_addr
        )

    @http.route(
        "/telephony/recording/<int:call_id>",
        type="http",
        auth="user",
        methods=["GET"],
        readonly=False,
    )
    def recording(self, call_id, download=None, **kwargs):
        """The recording of one call, played in the browser or downloaded.

        Supports single byte ranges (206, or 416 when unsatisfiable) so that
        the audio player can seek.
        """
        kind = "download" if str(download or "").lower() in ("1", "true", "yes") else "listen"
        call = self._check([call_id], kind)
        attachment = call._recording_attachment()
        if not attachment:
            raise NotFound(request.env._("This call has no recording."))
        stream = attachment._to_http_stream()
        stream.download_name = call._recording_filename()
        stream.mimetype = attachment.mimetype or "audio/mpeg"
        stream.etag = False
        stream.max_age = 0
        # Raises 416 for an unsatisfiable range, before anything is logged.
        response = stream.get_response(as_attachment=kind == "download")
        if request.httprequest.method == "GET" and response.status_code in (200, 206):
            self._log(call, kind, continued=self._continues_playback())
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["Accept-Ranges"] = "bytes"
        return response

    @staticmethod
    def _continues_playback():
        """Whether the request asks for a part that is not the beginning (a seek)."""
        ranges = parse_range_header(request.httprequest.headers.get("Range"))
        return bool(ranges and ranges.ranges and ranges.ranges[0][0] != 0)

    @http.route(
        f"/telephony/recordings/{ZIP_NAME}",
        type="http",
        auth="user",
        methods=["GET"],
        readonly=False,
    )
    def recordings_zip(self, ids=None, **kwargs):
        """The recordings of the selected calls as one zip, streamed."""
        try:
            call_ids = parse_ids(ids, MAX_ZIP_CALLS)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        calls = self._check(call_ids, "zip").filtered(lambda call: call._recording_attachment())
        if not calls:
            raise NotFound(request.env._("None of these calls has a recording."))
        members = [self._zip_member(call) for call in calls]
        self._log(calls, "zip")
        # The body is generated after this request's cursor is closed: the
        # members carry file paths (or, for the rare database-stored file,
        # its bytes), nothing that needs the database.
        response = request.make_response(
            zip_stream(members),
            headers=[
                ("Content-Type", "application/zip"),
                ("Content-Disposition", f"attachment; filename={ZIP_NAME}"),
                ("Cache-Control", "private, no-store"),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        response.direct_passthrough = True
        return response

    @staticmethod
    def _zip_member(call):
        attachment = call._recording_attachment()
        name = call._recording_filename()
        date = fields.Datetime.context_timestamp(call, call.start_date or fields.Datetime.now())
        date = date.replace(tzinfo=None)
        if attachment.store_fname:
            path = attachment._full_path(attachment.store_fname)
            size = os.path.getsize(path) if os.path.isfile(path) else None
            return ZipMember(name, date, lambda: open(path, "rb"), size)
        # A file kept in the database (ir_attachment.location=db) is read now.
        data = attachment.raw or b""
        return ZipMember(name, date, lambda: io.BytesIO(data), len(data))
