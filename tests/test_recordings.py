import io
import os
import zipfile
from datetime import datetime, timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..models import telephony_call as telephony_call_module
from .common import CommittingCase, TelephonyHttpCommon

START = datetime(2024, 5, 1, 12, 0, 0)
NUMBER = "+7 916 555-83-29"
E164 = "+79165558329"


def mp3(size=4000):
    """A distinct mp3-looking body: the filestore keeps one file per content."""
    return b"ID3\x03\x00\x00\x00\x00\x00\x00" + os.urandom(size)


class RecordingCommon(TelephonyHttpCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user_group = cls.env.ref("ip_telephony.group_telephony_user")
        cls.manager_group = cls.env.ref("ip_telephony.group_telephony_manager")

    def make_call(self, user, number=NUMBER, start=START, recording=None, **values):
        call = self.env["telephony.call"].create(
            {
                "direction": "outbound",
                "state": "ended",
                "number": number,
                "number_e164": E164 if number == NUMBER else number,
                "dial_string": "89165558329",
                "user_id": user.id,
                "start_date": start,
                **values,
            }
        )
        if recording is not None:
            call._attach_recording(recording)
        return call

    def access_rows(self, **domain):
        self.env.invalidate_all()
        return (
            self.env["telephony.recording.access"]
            .sudo()
            .search([(key, "=", value) for key, value in domain.items()])
        )

    def login_sales(self):
        self.authenticate("sales", "salesxxx")


@tagged("post_install", "-at_install", "ip_telephony")
class TestRecordingDownload(RecordingCommon):
    def setUp(self):
        super().setUp()
        self.data = mp3(5000)
        self.call = self.make_call(self.sales_user, recording=self.data)
        self.url = f"/telephony/recording/{self.call.id}"

    def test_download_is_named_after_id_phone_and_date(self):
        self.login_sales()
        response = self.url_open(f"{self.url}?download=1")
        self.assertEqual(response.status_code, 200, response.text[:200])
        self.assertEqual(response.content, self.data)
        self.assertEqual(response.headers["Content-Type"], "audio/mpeg")
        name = f"{self.call.id}_+79165558329_2024-05-01.mp3"
        self.assertEqual(response.headers["Content-Disposition"], f"attachment; filename={name}")
        self.assertIn("no-store", response.headers["Cache-Control"])
        rows = self.access_rows(call_ref=self.call.id)
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows.user_id, self.sales_user)
        self.assertEqual(rows.call_id, self.call)
        self.assertEqual(rows.kind, "download")
        self.assertEqual(rows.ip_address, "127.0.0.1")
        self.assertLess(abs(rows.access_date - fields.Datetime.now()), timedelta(minutes=1))

    def test_stored_name_and_attachment_hide_the_number(self):
        attachment = self.call.recording_id
        self.assertEqual(attachment.name, f"{self.call.id}_2024-05-01.mp3")
        # The recording is a field's attachment: out of attachment lists, and
        # not to be opened by id except through the audited route.
        Attachment = self.env["ir.attachment"].with_user(self.sales_user)
        self.assertFalse(
            Attachment.search([("res_model", "=", "telephony.call"), ("res_id", "=", self.call.id)])
        )
        with self.assertRaises(AccessError):
            Attachment.browse(attachment.id).read(["name", "datas"])
        self.login_sales()
        with mute_logger("odoo.http"):
            for url in (
                f"/web/content/{attachment.id}",
                f"/web/content/{attachment.id}?download=true",
                f"/web/content/telephony.call/{self.call.id}/recording_file",
            ):
                response = self.url_open(url)
                self.assertIn(response.status_code, (403, 404), url)
                self.assertNotEqual(response.content, self.data)
        self.assertFalse(self.access_rows(call_ref=self.call.id))

    def test_listen_inline_with_ranges(self):
        self.login_sales()
        size = len(self.data)
        whole = self.url_open(self.url)
        self.assertEqual(whole.status_code, 200)
        self.assertEqual(whole.content, self.data)
        self.assertTrue(whole.headers["Content-Disposition"].startswith("inline;"))
        self.assertEqual(whole.headers["Accept-Ranges"], "bytes")

        first = self.url_open(self.url, headers={"Range": "bytes=0-99"})
        self.assertEqual(first.status_code, 206)
        self.assertEqual(first.content, self.data[:100])
        self.assertEqual(first.headers["Content-Range"], f"bytes 0-99/{size}")

        seek = self.url_open(self.url, headers={"Range": "bytes=1000-"})
        self.assertEqual(seek.status_code, 206)
        self.assertEqual(seek.content, self.data[1000:])
        self.assertEqual(seek.headers["Content-Range"], f"bytes 1000-{size - 1}/{size}")

        tail = self.url_open(self.url, headers={"Range": "bytes=-10"})
        self.assertEqual(tail.status_code, 206)
        self.assertEqual(tail.content, self.data[-10:])

        with mute_logger("odoo.http"):
            beyond = self.url_open(self.url, headers={"Range": f"bytes={size}-"})
        self.assertEqual(beyond.status_code, 416)
        self.assertEqual(beyond.headers["Content-Range"], f"bytes */{size}")
        self.assertNotIn(self.data[:100], beyond.content)

        # Two playbacks from the start are logged; seeks and the refused
        # range are not.
        rows = self.access_rows(call_ref=self.call.id)
        self.assertEqual(rows.mapped("kind"), ["listen", "listen"])

    def test_seek_long_after_the_last_log_is_logged(self):
        self.login_sales()
        self.url_open(self.url, headers={"Range": "bytes=100-"})
        self.assertEqual(len(self.access_rows(call_ref=self.call.id)), 1)
        self.url_open(self.url, headers={"Range": "bytes=200-"})
        self.assertEqual(len(self.access_rows(call_ref=self.call.id)), 1)
        later = fields.Datetime.now() + timedelta(minutes=11)
        with patch.object(fields.Datetime, "now", return_value=later):
            self.url_open(self.url, headers={"Range": "bytes=300-"})
        self.assertEqual(len(self.access_rows(call_ref=self.call.id)), 2)

    def test_masked_users_get_a_masked_file_name(self):
        group = self.env["res.groups"].create(
            {
                "name": "Masked sellers",
                "telephony_mask_mode": "prefix",
                "telephony_mask_count": 4,
                "users": [(4, self.sales_user.id)],
            }
        )
        self.login_sales()
        response = self.url_open(f"{self.url}?download=1")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            response.headers["Content-Disposition"],
            f"attachment; filename={self.call.id}_+xxxx5558329_2024-05-01.mp3",
        )
        group.write({"telephony_mask_mode": "full"})
        response = self.url_open(f"{self.url}?download=1")
        self.assertEqual(
            response.headers["Content-Disposition"],
            f"attachment; filename={self.call.id}_hidden_2024-05-01.mp3",
        )
        # The administrator is not in the group: the number shows.
        self.authenticate("admin", "admin")
        response = self.url_open(f"{self.url}?download=1")
        self.assertIn("_+79165558329_", response.headers["Content-Disposition"])

    def test_who_may_not_listen_gets_403(self):
        theirs = self.make_call(self.env.ref("base.user_admin"), recording=mp3())
        cases = [
            ("other", "otherxxx", self.url),
            ("other", "otherxxx", f"{self.url}?download=1"),
            ("other", "otherxxx", f"/telephony/recordings/records.zip?ids={self.call.id}"),
            ("sales", "salesxxx", f"/telephony/recording/{theirs.id}"),
            ("sales", "salesxxx", f"/telephony/recording/{theirs.id}?download=1"),
            ("sales", "salesxxx", f"/telephony/recordings/records.zip?ids={theirs.id}"),
            (
                "sales",
                "salesxxx",
                f"/telephony/recordings/records.zip?ids={self.call.id},{theirs.id}",
            ),
        ]
        with mute_logger("odoo.http"):
            for login, password, url in cases:
                with self.subTest(login=login, url=url):
                    self.authenticate(login, password)
                    response = self.url_open(url)
                    self.assertEqual(response.status_code, 403)
                    self.assertNotIn(b"ID3", response.content)
        self.assertFalse(self.access_rows())

    def test_rights_per_group(self):
        self.login_sales()
        self.user_group.write({"telephony_may_download": False})
        with mute_logger("odoo.http"):
            denied = self.url_open(f"{self.url}?download=1")
            self.assertEqual(denied.status_code, 403)
            self.assertIn(b"You may not download recordings", denied.content)
            zipped = self.url_open(f"/telephony/recordings/records.zip?ids={self.call.id}")
            self.assertEqual(zipped.status_code, 403)
            self.assertEqual(self.url_open(self.url).status_code, 200)
            self.user_group.write({"telephony_may_listen": False})
            self.assertEqual(self.url_open(self.url).status_code, 403)
            # A group of the user that may download gives both back.
            self.env["res.groups"].create(
                {
                    "name": "Quality",
                    "telephony_may_download": True,
                    "users": [(4, self.sales_user.id)],
                }
            )
            self.assertEqual(self.url_open(self.url).status_code, 200)
            self.assertEqual(self.url_open(f"{self.url}?download=1").status_code, 200)
        # The administrators keep their rights through the manager group.
        self.authenticate("admin", "admin")
        self.assertEqual(self.url_open(f"{self.url}?download=1").status_code, 200)

    def _rpc_write(self, call, values):
        return self.rpc("write", [call.id], values, model="telephony.call")

    def test_nobody_points_a_call_at_another_file(self):
        """A user may write their own calls, but not the recording nor anything
        the engine reported: else another call's recording, or any private
        file, would download through their own call."""
        theirs = self.make_call(self.env.ref("base.user_admin"), recording=mp3())
        private = self.env["ir.attachment"].create({"name": "salaries.pdf", "raw": b"%PDF-secret"})
        own = self.make_call(self.sales_user)
        self.login_sales()
        with mute_logger("odoo.http"):
            for values in (
                {"recording_id": theirs.recording_id.id},
                {"recording_id": private.id},
                {"state": "talking"},
                {"number_e164": "+70000000000"},
                {"engine_call_id": "forged"},
            ):
                with self.subTest(values=values):
                    answer = self._rpc_write(own, values)
                    self.assertIn("error", answer, answer)
                    self.assertIn("telephony engine only", answer["error"]["data"]["message"])
        own.invalidate_recordset()
        self.assertFalse(own.recording_id)
        self.assertEqual((own.state, own.engine_call_id), ("ended", False))
        # Notes and the contact stay the user's to edit.
        answer = self._rpc_write(own, {"note": "Wants a quote", "partner_id": self.client.id})
        self.assertIs(answer.get("result"), True, answer)
        # Should a call ever point at a file that is not its own recording
        # (data written around the model), the routes serve nothing.
        own.recording_id = private
        with mute_logger("odoo.http"):
            for url in (
                f"/telephony/recording/{own.id}",
                f"/telephony/recording/{own.id}?download=1",
                f"/telephony/recordings/records.zip?ids={own.id}",
            ):
                with self.subTest(url=url):
                    response = self.url_open(url)
                    self.assertEqual(response.status_code, 404)
                    self.assertNotIn(b"PDF-secret", response.content)
        self.assertFalse(self.access_rows(call_ref=own.id))
        self.assertFalse(own.with_user(self.sales_user).has_recording)

    def test_missing_things_give_404_and_anonymous_a_login(self):
        no_recording = self.make_call(self.sales_user)
        self.login_sales()
        with mute_logger("odoo.http"):
            self.assertEqual(self.url_open("/telephony/recording/999999999").status_code, 404)
            self.assertEqual(
                self.url_open(f"/telephony/recording/{no_recording.id}").status_code, 404
            )
            self.assertEqual(
                self.url_open(
                    f"/telephony/recordings/records.zip?ids={no_recording.id}"
                ).status_code,
                404,
            )
        self.authenticate(None, None)
        response = self.url_open(self.url, allow_redirects=False)
        self.assertIn(response.status_code, (302, 303))
        self.assertIn("/web/login", response.headers["Location"])

    def test_call_form_has_the_player(self):
        call = self.call.with_user(self.sales_user)
        self.assertTrue(call.has_recording)
        self.assertTrue(call.telephony_may_listen)
        self.assertTrue(call.telephony_may_download)
        arch = call.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('widget="telephony_recording_player"', arch)
        self.user_group.write({"telephony_may_download": False, "telephony_may_listen": False})
        call.invalidate_recordset()
        self.assertFalse(call.telephony_may_listen)


@tagged("post_install", "-at_install", "ip_telephony")
class TestRecordingPlayer(RecordingCommon):
    def test_player_on_the_call_form_of_a_masked_user(self):
        """F25, F27 in the browser: masked numbers, a player and a download link."""
        self.make_call(self.sales_user, recording=mp3())
        self.env["res.groups"].create(
            {
                "name": "Masked sellers",
                "telephony_mask_mode": "prefix",
                "telephony_mask_count": 4,
                "users": [(4, self.sales_user.id)],
            }
        )
        self.start_tour(
            "/odoo/action-ip_telephony.telephony_call_action",
            "ip_telephony_recording_player",
            login="sales",
            timeout=120,
        )


@tagged("post_install", "-at_install", "ip_telephony")
class TestRecordingZip(RecordingCommon):
    def test_zip_of_the_selected_calls(self):
        datas = [mp3(1000 + n * 3000) for n in range(3)]
        calls = [
            self.make_call(self.sales_user, start=START + timedelta(days=n), recording=data)
            for n, data in enumerate(datas)
        ]
        silent = self.make_call(self.sales_user)
        ids = [call.id for call in calls] + [silent.id]
        action = (
            self.env["telephony.call"].with_user(self.sales_user).browse(ids)
        ).action_download_recordings()
        self.assertEqual(action["type"], "ir.actions.act_url")
        self.assertEqual(action["target"], "download")
        self.login_sales()
        response = self.url_open(action["url"])
        self.assertEqual(response.status_code, 200, response.text[:300])
        self.assertEqual(response.headers["Content-Type"], "application/zip")
        self.assertEqual(
            response.headers["Content-Disposition"], "attachment; filename=records.zip"
        )
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            self.assertIsNone(archive.testzip())
            expected = {
                f"{call.id}_+79165558329_2024-05-0{n + 1}.mp3": data
                for n, (call, data) in enumerate(zip(calls, datas, strict=True))
            }
            self.assertEqual(sorted(archive.namelist()), sorted(expected))
            for name, data in expected.items():
                self.assertEqual(archive.read(name), data)
        rows = self.access_rows(kind="zip")
        self.assertEqual(sorted(rows.mapped("call_ref")), sorted(call.id for call in calls))
        self.assertEqual(rows.user_id, self.sales_user)

    def test_zip_names_are_masked_too(self):
        call = self.make_call(self.sales_user, recording=mp3())
        self.env["res.groups"].create(
            {
                "name": "Masked",
                "telephony_mask_mode": "prefix",
                "telephony_mask_count": 4,
                "users": [(4, self.sales_user.id)],
            }
        )
        self.login_sales()
        response = self.url_open(f"/telephony/recordings/records.zip?ids={call.id}")
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            self.assertEqual(archive.namelist(), [f"{call.id}_+xxxx5558329_2024-05-01.mp3"])

    def test_bad_selections(self):
        call = self.make_call(self.sales_user, recording=mp3())
        self.login_sales()
        with mute_logger("odoo.http"):
            for ids in ("", "abc", "3-1", "1-99999", f"{call.id};drop"):
                with self.subTest(ids=ids):
                    response = self.url_open(f"/telephony/recordings/records.zip?ids={ids}")
                    self.assertEqual(response.status_code, 400)
        Call = self.env["telephony.call"].with_user(self.sales_user)
        with self.assertRaisesRegex(UserError, "None of the selected calls has a recording"):
            Call.browse(self.make_call(self.sales_user).id).action_download_recordings()
        with (
            patch.object(telephony_call_module, "MAX_ZIP_CALLS", 1),
            self.assertRaisesRegex(UserError, "At most 1 recordings"),
        ):
            Call.browse(
                [call.id, self.make_call(self.sales_user, recording=mp3()).id]
            ).action_download_recordings()

    def test_a_file_gone_from_the_filestore_is_listed(self):
        kept = self.make_call(self.sales_user, recording=mp3())
        lost = self.make_call(self.sales_user, recording=mp3())
        attachment = lost.recording_id
        path = attachment._full_path(attachment.store_fname)
        os.rename(path, path + ".moved")
        self.addCleanup(os.rename, path + ".moved", path)
        self.login_sales()
        response = self.url_open(f"/telephony/recordings/records.zip?ids={kept.id},{lost.id}")
        self.assertEqual(response.status_code, 200)
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            names = archive.namelist()
            self.assertEqual(len(names), 2)
            self.assertTrue(names[0].startswith(f"{kept.id}_"))
            self.assertEqual(names[1], "missing.txt")
            self.assertIn(f"{lost.id}_", archive.read("missing.txt").decode())


@tagged("post_install", "-at_install", "ip_telephony")
class TestRecordingAccessLog(RecordingCommon):
    def test_nobody_changes_the_log(self):
        call = self.make_call(self.sales_user, recording=mp3())
        Access = self.env["telephony.recording.access"]
        row = Access.with_user(self.sales_user)._log(call, "listen")
        admin = self.env.ref("base.user_admin")
        self.assertEqual(Access.with_user(admin).search([]), row)
        with self.assertRaises(AccessError):
            Access.with_user(self.sales_user).search([])
        with self.assertRaises(AccessError):
            Access.with_user(admin).create(
                {"user_id": admin.id, "call_ref": call.id, "kind": "listen"}
            )
        for label, env in (("administrator", row.with_user(admin).env), ("sudo", row.sudo().env)):
            with self.subTest(label), self.assertRaises(AccessError):
                row.with_env(env).write({"kind": "download"})
            with self.subTest(label), self.assertRaises(AccessError):
                row.with_env(env).unlink()
        # The row outlives its call.
        call.unlink()
        self.assertTrue(row.exists())
        self.assertFalse(row.call_id)
        self.assertEqual(row.call_ref, call.id)


@tagged("post_install", "-at_install", "ip_telephony")
class TestRetention(RecordingCommon):
    def test_retention_settings_are_checked(self):
        settings = self.env["res.config.settings"]
        with self.assertRaisesRegex(ValidationError, "at least one day"):
            settings.create({"telephony_purge": True, "telephony_purge_days": 0})
        with self.assertRaisesRegex(ValidationError, "0 to keep them"):
            settings.create({"telephony_recording_days": -1})
        settings.create({"telephony_recording_days": 15}).execute()
        self.assertEqual(
            self.env["ir.config_parameter"].get_param("ip_telephony.recording_days"), "15"
        )


class WorkerDied(Exception):
    """The cron worker is killed: its open transaction is lost."""


@tagged("post_install", "-at_install", "ip_telephony")
class TestRetentionPurge(CommittingCase):
    """The retention cron as it runs in production, on committed data: it
    commits batch after batch and frees the disk itself."""

    def setUp(self):
        super().setUp()
        self.set_params(purge=False, purge_days=False, recording_days=False)

    def insert_old_calls(self, env, count, days):
        env.cr.execute(
            """INSERT INTO telephony_call
                   (direction, state, number, number_e164, start_date, duration,
                    create_uid, write_uid, create_date, write_date)
            SELECT 'inbound', 'ended', '+7916' || lpad(n::text, 7, '0'),
                   '+7916' || lpad(n::text, 7, '0'),
                   (now() at time zone 'UTC') - make_interval(days => %s), 0, 1, 1,
                   now() at time zone 'UTC', now() at time zone 'UTC'
              FROM generate_series(1, %s) n
            RETURNING id""",
            (days, count),
        )
        ids = [row[0] for row in env.cr.fetchall()]
        self.delete_at_cleanup("telephony.call", ids)
        return ids

    def make_call(self, env, start, recording=None):
        call = env["telephony.call"].create(
            {
                "direction": "outbound",
                "state": "ended",
                "number": NUMBER,
                "number_e164": E164,
                "dial_string": "89165558329",
                "user_id": env.ref("base.user_admin").id,
                "start_date": start,
            }
        )
        self.delete_at_cleanup("telephony.call", call.ids)
        if recording is not None:
            call._attach_recording(recording)
        return call

    @staticmethod
    def file_path(attachment):
        return attachment._full_path(attachment.store_fname)

    def test_purge_deletes_10k_old_calls_with_their_files(self):
        self.set_params(purge="True", purge_days="30")
        now = fields.Datetime.now()
        with self.committing_env() as env:
            old_ids = self.insert_old_calls(env, 10000, days=40)
            old_recorded = env["telephony.call"].browse(old_ids[:20])
            for call in old_recorded:
                call._attach_recording(mp3(500))
            for call in old_recorded[:3]:
                call.message_post(body="Called back about the invoice")
            old_paths = [self.file_path(call.recording_id) for call in old_recorded]
            old_attachment_ids = old_recorded.recording_id.ids
            young = self.make_call(env, now, recording=mp3())
            young_no_recording = self.make_call(env, now - timedelta(days=29))
            kept_ids = (young | young_no_recording).ids
            young_path = self.file_path(young.recording_id)
            row_id = env["telephony.recording.access"]._log(old_recorded[:1], "listen").id
        self.addCleanup(self.delete_access_row, row_id)
        self.assertTrue(all(os.path.isfile(path) for path in old_paths))

        with self.committing_env() as env:
            env["telephony.call"]._cron_purge(batch_size=3000)

        with self.committing_env() as env:
            Call = env["telephony.call"]
            self.assertFalse(Call.search_count([("id", "in", old_ids)]))
            self.assertEqual(sorted(Call.search([("id", "in", kept_ids)]).ids), sorted(kept_ids))
            self.assertFalse(env["ir.attachment"].browse(old_attachment_ids).exists())
            young = Call.browse(kept_ids[0])
            self.assertEqual(young.recording_id.raw[:3], b"ID3")
            env.cr.execute(
                "SELECT count(*) FROM mail_message "
                "WHERE model = 'telephony.call' AND res_id = ANY(%s)",
                (old_ids,),
            )
            self.assertEqual(env.cr.fetchone()[0], 0)
            row = env["telephony.recording.access"].browse(row_id)
            self.assertTrue(row.exists())
            self.assertFalse(row.call_id)
        # The cron collected the filestore's garbage itself.
        self.assertFalse([path for path in old_paths if os.path.exists(path)])
        self.assertTrue(os.path.isfile(young_path))

    def delete_access_row(self, row_id):
        # Nobody may change the access log through the ORM, not even sudo.
        with self.committing_env() as env:
            env.cr.execute("DELETE FROM telephony_recording_access WHERE id = %s", (row_id,))

    def test_a_purge_cut_short_keeps_its_committed_batches(self):
        """The time budget runs out after the first batch, and the cron's
        transaction is then lost: the batch it committed stays deleted."""
        self.set_params(purge="True", purge_days="30")
        with self.committing_env() as env:
            old_ids = self.insert_old_calls(env, 250, days=40)
        with self.assertRaises(WorkerDied), self.committing_env() as env:
            env["telephony.call"]._cron_purge(batch_size=100, time_budget=0)
            raise WorkerDied()  # before the cron's transaction ends
        with self.committing_env() as env:
            left = env["telephony.call"].search([("id", "in", old_ids)]).ids
        self.assertEqual(sorted(left), old_ids[100:])

    def test_purge_is_off_by_default(self):
        with self.committing_env() as env:
            old_ids = self.insert_old_calls(env, 10, days=400)
        with self.committing_env() as env:
            env["telephony.call"]._cron_purge()
        with self.committing_env() as env:
            self.assertEqual(env["telephony.call"].search_count([("id", "in", old_ids)]), 10)

    def test_recordings_have_their_own_retention(self):
        self.set_params(recording_days="30")
        now = fields.Datetime.now()
        with self.committing_env() as env:
            old = self.make_call(env, now - timedelta(days=31), recording=mp3())
            young = self.make_call(env, now - timedelta(days=29), recording=mp3())
            old_id, young_id = old.id, young.id
            old_path, old_attachment_id = self.file_path(old.recording_id), old.recording_id.id
            young_path = self.file_path(young.recording_id)
        with self.committing_env() as env:
            env["telephony.call"]._cron_purge()
        with self.committing_env() as env:
            old, young = env["telephony.call"].browse([old_id, young_id])
            self.assertTrue(old.exists())
            self.assertFalse(old.recording_id)
            self.assertFalse(old.has_recording)
            self.assertFalse(env["ir.attachment"].browse(old_attachment_id).exists())
            self.assertTrue(young.recording_id)
        self.assertFalse(os.path.exists(old_path))
        self.assertTrue(os.path.isfile(young_path))


@tagged("post_install", "-at_install", "ip_telephony")
class TestContactErasure(RecordingCommon):
    def setUp(self):
        super().setUp()
        self.linked = self.make_call(
            self.sales_user, number="8 (916) 123-45-67", recording=mp3(), partner_id=self.client.id
        )
        self.linked.number_e164 = "+79161234567"
        # A call from the contact's number that was not linked to it.
        self.unlinked = self.make_call(self.sales_user, number="+79161234567", recording=mp3())
        other = self.env["res.partner"].create({"name": "Olga", "phone": "+7 916 000-00-01"})
        self.other_call = self.make_call(
            self.sales_user, number="+79160000001", recording=mp3(), partner_id=other.id
        )
        self.linked.message_post(body="Asked for a quote")

    def test_deleting_a_contact_keeps_its_calls(self):
        self.client.unlink()
        self.assertTrue(self.linked.exists())
        self.assertFalse(self.linked.partner_id)
        self.assertTrue(self.linked.recording_id)

    def test_erase_calls_and_recordings(self):
        attachments = (self.linked | self.unlinked).recording_id
        wizard = (
            self.env["telephony.erase.wizard"]
            .with_user(self.env.ref("base.user_admin"))
            .with_context(active_model="res.partner", active_ids=self.client.ids)
            .create({})
        )
        self.assertEqual(wizard.partner_ids, self.client)
        self.assertEqual((wizard.call_count, wizard.recording_count), (2, 2))
        wizard.action_erase()
        self.assertFalse((self.linked | self.unlinked).exists())
        self.assertFalse(attachments.exists())
        self.assertTrue(self.other_call.exists())
        self.assertTrue(self.client.exists())
        self.assertFalse(
            self.env["mail.message"].search(
                [("model", "=", "telephony.call"), ("res_id", "=", self.linked.id)]
            )
        )

    def test_erase_and_delete_the_contact(self):
        wizard = self.env["telephony.erase.wizard"].create(
            {"partner_ids": [(6, 0, self.client.ids)], "delete_partners": True}
        )
        wizard.action_erase()
        self.assertFalse(self.client.exists())
        self.assertFalse(self.linked.exists())
        self.assertTrue(self.other_call.exists())

    def test_only_telephony_administrators_erase(self):
        with self.assertRaises(AccessError):
            self.env["telephony.erase.wizard"].with_user(self.sales_user).create(
                {"partner_ids": [(6, 0, self.client.ids)]}
            )
        with self.assertRaises(AccessError):
            self.client.with_user(self.sales_user)._telephony_erase_calls()
        self.assertTrue(self.linked.exists())
