"""The browser client with what a product brings (PROTOCOL §9): bots shown
as bots, messages deleted by their sender or a group's owner and admins
(live in every open browser, and in one that was away meanwhile), roles
changed in the members pane, invite links made, opened and revoked,
signing in with a code sent by e-mail (a new account's handle typed with
it), and linking an address in the account pane (through a real SMTP server
in the test, Debian's aiosmtpd)."""

import email
import email.policy
import re
import threading
import time
import unittest

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from support import CONTRAST_FAILURES, UNLABELLED_FIELDS, WAIT, free_port
from test_browser_client import BrowserTestCase
from test_browser_requests import create_group, post

SERVICE_KEY = "browser-tests-service-key-0123456789abcdef"
DELETED = "This message was deleted"

ROW = """
return [...document.querySelectorAll('#message-list li.message')]
  .find(li => li.querySelector('.message-text').textContent === arguments[0]) ?? null;
"""


def service(server, method, path, body=None):
    """A call of the service API (§9.2), as the product's backend makes it."""
    return server.call(method, "/v1/service" + path, body, token=SERVICE_KEY)


def member(browser, user_id):
    return browser.find(f'#member-list li[data-user-id="{user_id}"]')


def member_actions(browser, user_id):
    row = member(browser, user_id)
    return [b.get_attribute("data-member-action") for b in row.find_elements(By.CSS_SELECTOR, "button")] if row else None


def invite_row(browser, code):
    """The Details pane's row for the live invite `code`, None if not shown."""
    return browser.visible(invite_row_css(code))


def invite_row_css(code):
    return f'#invite-list li[data-invite-code="{code}"]'


def toast(browser):
    return browser.find("#toast").get_attribute("textContent") if browser.visible("#toast") else ""


class IntegrationTestCase(BrowserTestCase):
    def row(self, browser, text):
        """The open conversation's row showing `text`, once it shows."""
        return browser.wait_for(lambda: browser.script(ROW, text), f"no message {text!r} shown")

    def delete_control(self, browser, text):
        """The Delete control of the message `text`, None if it has none.
        A mouse shows it by resting on the message (headless Chromium
        reports no hover, so there it always shows, as on a touch screen)."""
        row = self.row(browser, text)
        ActionChains(browser.driver).move_to_element(row).perform()
        controls = row.find_elements(By.CSS_SELECTOR, "button.message-delete")
        if not controls:
            return None
        browser.wait_for(lambda: controls[0].is_displayed(), "the Delete control never showed on hover")
        return controls[0]

    def delete(self, browser, text, confirm=True):
        self.delete_control(browser, text).click()
        browser.wait_visible("#confirm-dialog")
        self.assertIn("Delete this message", browser.text("#confirm-text"))
        browser.wait_visible("#confirm-ok-button" if confirm else "#confirm-cancel-button").click()
        browser.wait_for(lambda: not browser.visible("#confirm-dialog"), "the confirmation stayed open")

    def open_details(self, browser):
        if not browser.visible("#details-pane"):
            browser.wait_visible("#details-button").click()
        browser.wait_visible("#member-list li")

    def member_action(self, browser, user_id, action):
        browser.wait_visible(f'#member-list li[data-user-id="{user_id}"] button[data-member-action="{action}"]').click()


class BotTests(IntegrationTestCase):
    server_args = ("--service-key", SERVICE_KEY)

    def test_a_bots_name_shows_the_badge_wherever_it_shows(self):
        alice = self.server.sign_up("alice", "Alice")
        status, answer = service(self.server, "PUT", "/users/deploy-bot",
                                 {"handle": "deploys", "display_name": "Deploys", "bot": True})
        self.assertEqual(status, 201, answer)
        bot = answer["user"]
        self.assertTrue(bot.get("bot"))
        status, answer = service(self.server, "POST", "/conversations",
                                 {"kind": "group", "title": "Releases", "owner_id": alice["id"], "members": [bot["id"]]})
        self.assertEqual(status, 201, answer)
        group = answer["conversation"]["id"]
        status, answer = service(self.server, "POST", f"/conversations/{group}/messages",
                                 {"as": bot["id"], "text": "v2.1 is out", "client_id": "release-2.1"})
        self.assertEqual(status, 201, answer)
        status, answer = service(self.server, "POST", "/conversations",
                                 {"kind": "direct", "owner_id": alice["id"], "members": [bot["id"]]})
        self.assertIn(status, (200, 201), answer)
        direct = answer["conversation"]["id"]

        browser = self.browser()
        browser.log_in("alice")
        # No codes mailed here: no account pane (it is about the address).
        self.assertIsNone(browser.visible("#account-button"))

        # The list: the direct chat with the bot says so, the group does not.
        browser.wait_for(lambda: browser.entry(direct) is not None and browser.entry(group) is not None,
                         "the conversations are not listed")
        badge = browser.entry(direct).find_element(By.CSS_SELECTOR, ".bot-badge")
        self.assertTrue(badge.is_displayed())
        self.assertEqual(badge.get_attribute("textContent"), "bot")
        self.assertFalse(browser.entry(group).find_element(By.CSS_SELECTOR, ".bot-badge").is_displayed())

        # A message: the bot's name with the badge, Alice's without.
        browser.open_conversation(group)
        browser.wait_message("v2.1 is out")
        browser.send("thanks, bot")
        browser.wait_message("thanks, bot", status=("sent", "read"))
        sender = self.row(browser, "v2.1 is out").find_element(By.CSS_SELECTOR, ".message-sender")
        self.assertTrue(sender.is_displayed())
        self.assertEqual(sender.find_element(By.CSS_SELECTOR, ".bot-badge").get_attribute("textContent"), "bot")
        self.assertIn("Deploys", sender.text)
        self.assertEqual(self.row(browser, "thanks, bot").find_elements(By.CSS_SELECTOR, ".bot-badge"), [])

        # The members pane.
        self.open_details(browser)
        self.assertTrue(member(browser, bot["id"]).find_element(By.CSS_SELECTOR, ".bot-badge").is_displayed())
        self.assertEqual(member(browser, alice["id"]).find_elements(By.CSS_SELECTOR, ".bot-badge"), [])
        self.assertEqual(browser.script(CONTRAST_FAILURES), [], "the badges are readable")
        browser.screenshot("bot-in-a-group")

        # Search results.
        browser.fill("#people-search", "deploys")
        result = browser.wait_visible('#people-results li[data-user-handle="deploys"]')
        self.assertTrue(result.find_element(By.CSS_SELECTOR, ".bot-badge").is_displayed())
        browser.fill("#people-search", "alice")
        browser.wait_for(lambda: not browser.find('#people-results li[data-user-handle="deploys"]'))

        # The open direct chat's title.
        browser.open_conversation(direct)
        browser.wait_visible("#conversation-bot")
        self.assertEqual(browser.text("#conversation-title"), "Deploys")


class DeleteTests(IntegrationTestCase):
    def test_deleting_a_message_updates_every_open_browser(self):
        alice_account = self.server.sign_up("alice", "Alice")
        bob_account = self.server.sign_up("bob", "Bob")
        group = create_group(self.server, alice_account, "Book club", [bob_account])
        post(self.server, alice_account, group, "welcome, Bob", "a-1")
        alice, bob = self.browser(), self.browser()
        alice.log_in("alice")
        bob.log_in("bob")
        for browser in (alice, bob):
            browser.open_conversation(group)
            browser.wait_message("welcome, Bob")
        bob.send("my typo")
        bob.send("second thought")
        for browser in (alice, bob):
            browser.wait_message("second thought")

        # A plain member deletes his own messages only.
        self.assertIsNone(self.delete_control(bob, "welcome, Bob"), "a member may not delete the owner's message")
        self.assertIsNotNone(self.delete_control(bob, "my typo"))

        # Cancelled, nothing happens.
        self.delete(bob, "my typo", confirm=False)
        time.sleep(0.5)
        self.assertIn("my typo", [text for _, text, _, _ in alice.messages()])

        # Confirmed: deleted for everyone, at once; the text is gone from the page.
        self.delete(bob, "my typo")
        for browser in (bob, alice):
            browser.wait_for(lambda b=browser: [text for _, text, _, _ in b.messages()]
                             == ["welcome, Bob", DELETED, "second thought"], "the delete never showed")
            self.assertFalse(browser.script("return document.body.textContent.includes('my typo')"))
            deleted = browser.find('#message-list li.message[data-seq="2"]')
            self.assertIn("deleted", deleted.get_attribute("class"))
            self.assertEqual(deleted.find_elements(By.CSS_SELECTOR, "button.message-delete"), [])
        self.assertEqual(bob.script(CONTRAST_FAILURES), [], "a deleted message is readable, on either side")

        # The owner deletes anyone's: Bob's last one, and with it his list's preview.
        self.delete(alice, "second thought")
        bob.wait_for(lambda: [text for _, text, _, _ in bob.messages()] == ["welcome, Bob", DELETED, DELETED],
                     "the owner's delete never reached Bob")
        preview = lambda b: b.entry(group).find_element(By.CSS_SELECTOR, ".conversation-preview").text
        for browser in (alice, bob):
            browser.wait_for(lambda b=browser: preview(b) == DELETED, "the list still shows the deleted text")
        alice.screenshot("deleted-messages")

        # The server agrees, and history read later shows them deleted too.
        status, answer = self.server.call("GET", f"/v1/conversations/{group}/messages?after=0&limit=10",
                                          token=bob_account["token"])
        self.assertEqual([(m["text"], m.get("deleted", False)) for m in answer["messages"]],
                         [("welcome, Bob", False), ("", True), ("", True)])
        bob.driver.refresh()
        bob.wait_ready()
        bob.open_conversation(group)
        bob.wait_for(lambda: [text for _, text, _, _ in bob.messages()] == ["welcome, Bob", DELETED, DELETED],
                     "history after a reload shows the deleted text")

    def test_a_message_deleted_while_a_browser_is_away_shows_deleted_when_it_is_back(self):
        alice = self.server.sign_up("alice", "Alice")
        bob = self.server.sign_up("bob", "Bob")
        group = create_group(self.server, alice, "Book club", [bob])
        gone = post(self.server, alice, group, "to vanish", "a-1")
        post(self.server, alice, group, "stays", "a-2")
        browser = self.browser()
        browser.log_in("bob")
        browser.open_conversation(group)
        browser.wait_message("to vanish")

        # Deleted the moment the server is back, before Bob's browser (in its
        # backoff) is: no message_updated reaches it, the catch-up must see it.
        self.server.kill()
        browser.wait_for(lambda: browser.connection_state() == "reconnecting", "no reconnecting state")
        time.sleep(3)
        self.server.start()
        status, _ = self.server.call("DELETE", f"/v1/conversations/{group}/messages/{gone['seq']}", token=alice["token"])
        self.assertEqual(status, 204)
        browser.wait_for(lambda: browser.connection_state() == "connected", "never reconnected", timeout=40)
        browser.wait_for(lambda: [text for _, text, _, _ in browser.messages()] == [DELETED, "stays"],
                         "the message deleted meanwhile still shows its text")


class RoleTests(IntegrationTestCase):
    def test_the_owner_changes_roles_and_hands_the_group_over_live(self):
        alice_account = self.server.sign_up("alice", "Alice")
        bob_account = self.server.sign_up("bob", "Bob")
        carol_account = self.server.sign_up("carol", "Carol")
        group = create_group(self.server, alice_account, "Book club", [bob_account, carol_account])
        alice_id, bob_id, carol_id = alice_account["id"], bob_account["id"], carol_account["id"]
        alice, bob = self.browser(), self.browser()
        alice.log_in("alice")
        bob.log_in("bob")
        for browser in (alice, bob):
            browser.open_conversation(group)
            self.open_details(browser)
        role = lambda b, user_id: member(b, user_id).get_attribute("data-role")

        # At first: Alice owns it and manages everyone; Bob manages no one.
        self.assertEqual(role(alice, alice_id), "owner")
        self.assertIn("owner", member(alice, alice_id).text)
        self.assertEqual(member_actions(alice, bob_id), ["remove", "admin", "owner"])
        self.assertEqual(member_actions(alice, alice_id), [])
        self.assertTrue(alice.visible("#add-member") and alice.visible("#invite-box"))
        self.assertEqual(member_actions(bob, alice_id), [])
        self.assertEqual(member_actions(bob, carol_id), [])
        self.assertIsNone(bob.visible("#add-member"))
        self.assertIsNone(bob.visible("#invite-box"))

        # Alice makes Bob an admin: Bob's pane follows live. An admin adds
        # members and removes plain members, not the owner, and changes no roles.
        self.member_action(alice, bob_id, "admin")
        bob.wait_for(lambda: role(bob, bob_id) == "admin", "Bob never saw his new role")
        self.assertIn("admin", member(bob, bob_id).text)
        bob.wait_visible("#add-member")
        bob.wait_visible("#invite-box")
        self.assertEqual(member_actions(bob, carol_id), ["remove"])
        self.assertEqual(member_actions(bob, alice_id), [])
        alice.wait_for(lambda: member_actions(alice, bob_id) == ["remove", "member", "owner"], "Alice's controls stayed")
        status, answer = self.server.call("GET", f"/v1/conversations/{group}", token=carol_account["token"])
        self.assertEqual({m["user"]["id"]: m["role"] for m in answer["conversation"]["members"]},
                         {alice_id: "owner", bob_id: "admin", carol_id: "member"})
        self.assertEqual(bob.script(UNLABELLED_FIELDS), [])
        self.assertEqual(bob.script(CONTRAST_FAILURES), [], "the roles and controls are readable")
        alice.screenshot("group-roles")

        # Handing over asks first; Escape answers no, and nothing changes.
        self.member_action(alice, bob_id, "owner")
        alice.wait_visible("#confirm-dialog")
        self.assertIn("owner", alice.text("#confirm-text"))
        alice.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
        alice.wait_for(lambda: not alice.visible("#confirm-dialog"), "Escape left the question open")
        self.assertTrue(alice.visible("#details-pane"), "Escape closed the question, not the panel under it")
        self.assertEqual(role(alice, alice_id), "owner")

        # Confirmed: Bob owns the group, Alice is an admin, in both browsers.
        self.member_action(alice, bob_id, "owner")
        alice.wait_visible("#confirm-ok-button").click()
        for browser in (alice, bob):
            browser.wait_for(lambda b=browser: role(b, bob_id) == "owner" and role(b, alice_id) == "admin",
                             "the hand-over never showed")
        bob.wait_for(lambda: "now the owner" in toast(bob), "Bob was not told")
        bob.wait_for(lambda: member_actions(bob, alice_id) == ["remove", "member", "owner"], "Bob got no owner's controls")
        alice.wait_for(lambda: member_actions(alice, bob_id) == [], "Alice kept the owner's controls")
        self.assertEqual(member_actions(alice, carol_id), ["remove"])

        # The new owner makes Alice a plain member: she can no longer add anyone.
        self.member_action(bob, alice_id, "member")
        alice.wait_for(lambda: role(alice, alice_id) == "member", "Alice never saw her new role")
        alice.wait_for(lambda: not alice.visible("#add-member") and not alice.visible("#invite-box"),
                       "a plain member kept the admin's controls")
        self.assertEqual(member_actions(alice, carol_id), [])


class InviteTests(IntegrationTestCase):
    def make_invite(self, browser):
        self.open_details(browser)
        browser.wait_visible("#invite-create-button").click()
        field = browser.wait_for(lambda: browser.script("return document.activeElement.closest('#invite-list li')"
                                                        " && document.activeElement"), "the new link got no focus")
        browser.wait_for(lambda: field.get_attribute("value"), "no link shown")
        return field.get_attribute("value")

    def test_an_invite_link_joins_the_group_signed_in_or_not_until_revoked(self):
        alice_account = self.server.sign_up("alice", "Alice")
        bob_account = self.server.sign_up("bob", "Bob")
        dave_account = self.server.sign_up("dave", "Dave")
        self.server.sign_up("erin", "Erin")
        frank_account = self.server.sign_up("frank", "Frank")
        group = create_group(self.server, alice_account, "Book club", [bob_account])
        alice = self.browser()
        alice.log_in("alice")
        alice.open_conversation(group)

        link = self.make_invite(alice)
        match = re.fullmatch(re.escape(self.server.url) + r"/#/invite/([A-Za-z0-9_-]+)", link)
        self.assertIsNotNone(match, link)
        code = match.group(1)
        self.assertEqual(alice.find(f"#invite-link-{code}").get_attribute("readonly"), "true")
        alice.driver.execute_cdp_cmd("Browser.grantPermissions", {
            "origin": self.server.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
        alice.wait_visible(f'{invite_row_css(code)} button[data-invite-action="copy"]').click()
        alice.wait_for(lambda: toast(alice) == "Invite link copied.", "the link was not copied")
        self.assertEqual(alice.script("return navigator.clipboard.readText()"), link)
        self.assertEqual(alice.script(UNLABELLED_FIELDS), [])
        self.assertEqual(alice.script(CONTRAST_FAILURES), [], "the invite link is readable")
        alice.screenshot("invite-link")

        # Dave, signed in, opens the link: he joins and the group opens; the
        # hash is cleared. Alice sees him join.
        dave = self.browser()
        dave.log_in("dave")
        dave.driver.get(link)
        dave.wait_for(lambda: dave.find("#conversation-pane").get_attribute("data-conversation-id") == group,
                      "the group never opened for Dave")
        self.assertEqual(dave.text("#conversation-title"), "Book club")
        self.assertEqual(dave.script("return location.hash"), "")
        dave.wait_for(lambda: dave.entry(group) is not None, "the group is not in Dave's list")
        alice.wait_for(lambda: member(alice, dave_account["id"]) is not None, "Alice never saw Dave join")

        # Erin, not signed in, opens it in a new page: she signs in first,
        # then joins.
        erin = self.browser()
        erin.driver.get("about:blank")
        erin.driver.get(link)
        erin.wait_visible("#auth-form")
        self.assertIn("invited", erin.wait_visible("#auth-note").text)
        self.assertEqual(erin.script("return location.hash"), "")
        erin.log_in("erin")
        erin.wait_for(lambda: erin.find("#conversation-pane").get_attribute("data-conversation-id") == group,
                      "the group never opened for Erin")
        self.assertEqual(erin.script("return sessionStorage.getItem('parley.invite')"), None)

        # Revoked: the link shows no more, and no longer works.
        alice.wait_visible(f'{invite_row_css(code)} button[data-invite-action="revoke"]').click()
        alice.wait_for(lambda: invite_row(alice, code) is None, "the revoked link still shows")
        alice.wait_visible("#invite-create-button")
        self.assertIsNone(alice.visible("#invite-list"))
        status, answer = self.server.call("POST", f"/v1/invites/{code}/accept", token=frank_account["token"])
        self.assertEqual(status, 404, answer)

    def test_the_owner_sees_the_live_invites_in_a_fresh_browser_and_revokes_one(self):
        alice = self.server.sign_up("alice", "Alice")
        bob = self.server.sign_up("bob", "Bob")
        group = create_group(self.server, alice, "Book club", [bob])
        path = f"/v1/conversations/{group}/invites"
        status, answer = self.server.call("POST", path, {"max_uses": 5}, token=alice["token"])
        self.assertEqual(status, 201, answer)
        older = answer["invite"]["code"]
        time.sleep(0.01)  # made a little later: listed first
        status, answer = self.server.call("POST", path, {}, token=alice["token"])
        self.assertEqual(status, 201, answer)
        newer = answer["invite"]["code"]
        # A revoked one is not live: it is not listed.
        status, answer = self.server.call("POST", path, {}, token=alice["token"])
        gone = answer["invite"]["code"]
        self.assertEqual(self.server.call("DELETE", f"{path}/{gone}", token=alice["token"])[0], 204)

        # Not made in this browser, yet shown when the pane opens, newest first.
        owner = self.browser(width=360, height=740)
        owner.log_in("alice")
        owner.open_conversation(group)
        self.open_details(owner)
        owner.wait_for(lambda: invite_row(owner, older) and invite_row(owner, newer), "the invites never showed")
        rows = owner.find_all("#invite-list li")
        self.assertEqual([r.get_attribute("data-invite-code") for r in rows], [newer, older])
        self.assertIsNone(invite_row(owner, gone))
        self.assertEqual(owner.find(f"#invite-link-{older}").get_attribute("value"),
                         f"{self.server.url}/#/invite/{older}")
        self.assertIn("0 of 5 uses", invite_row(owner, older).text)
        self.assertIn("stops working", invite_row(owner, newer).text)
        self.assertEqual(owner.script(UNLABELLED_FIELDS), [])
        self.assertEqual(owner.script(CONTRAST_FAILURES), [], "the invite list is readable")
        self.assertLessEqual(owner.script("return document.documentElement.scrollWidth - window.innerWidth"), 0)
        owner.screenshot("invite-list")

        # A plain member gets no list (the server says 403 to him).
        member_browser = self.browser()
        member_browser.log_in("bob")
        member_browser.open_conversation(group)
        self.open_details(member_browser)
        self.assertIsNone(member_browser.visible("#invite-box"))
        self.assertEqual(self.server.call("GET", path, token=bob["token"])[0], 403)

        # Revoked from the keyboard: each Revoke says which link it is.
        revoke = owner.find(f'{invite_row_css(older)} button[data-invite-action="revoke"]')
        self.assertEqual(revoke.get_attribute("aria-label"), "Revoke invite link 2")
        revoke.send_keys(Keys.ENTER)
        owner.wait_for(lambda: invite_row(owner, older) is None, "the revoked invite still shows")
        owner.wait_for(lambda: toast(owner) == "The invite link no longer works.", "no word of the revoke")
        owner.find(f'{invite_row_css(newer)} button[data-invite-action="revoke"]').click()
        owner.wait_for(lambda: not owner.visible("#invite-list"), "the list stayed")
        status, answer = self.server.call("GET", path, token=alice["token"])
        self.assertEqual((status, answer), (200, {"invites": []}))

    def test_an_invalid_invite_link_says_so_and_shows_the_list(self):
        alice = self.server.sign_up("alice", "Alice")
        bob = self.server.sign_up("bob", "Bob")
        group = create_group(self.server, alice, "Book club", [bob])
        status, answer = self.server.call("POST", f"/v1/conversations/{group}/invites", {}, token=alice["token"])
        self.assertEqual(status, 201, answer)
        revoked = answer["invite"]["code"]
        self.assertEqual(self.server.call("DELETE", f"/v1/conversations/{group}/invites/{revoked}",
                                          token=alice["token"])[0], 204)
        self.server.sign_up("carol", "Carol")
        browser = self.browser(width=360, height=740)
        browser.log_in("carol")
        for code in ("no-such-code", revoked):
            browser.driver.get(f"{self.server.url}/#/invite/{code}")
            browser.wait_for(lambda: toast(browser) == "This invite link is not valid any more.",
                             f"no message for the invite {code}")
            self.assertEqual(browser.script("return location.hash"), "")
            self.assertIsNone(browser.visible("#conversation-pane"))
            browser.wait_visible("#conversation-empty")  # Carol's list: in no group yet
            # The same words come again for the next link: start from none.
            browser.script("document.getElementById('toast').hidden = true")
        status, answer = self.server.call("GET", f"/v1/conversations/{group}", token=alice["token"])
        self.assertEqual(len(answer["conversation"]["members"]), 2, "no one joined")
        self.assertLessEqual(browser.script("return document.documentElement.scrollWidth - window.innerWidth"), 0)


# ---- Signing in with a code sent by e-mail -------------------------------

class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(envelope)
        return "250 OK"

    def wait_code(self, address, after=0, timeout=WAIT):
        """The 6-digit code of the newest mail to `address`, waiting for one
        among the mails after the first `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                mails = [m for m in self.messages[after:] if address in m.rcpt_tos]
            if mails:
                return code_in(mails[-1].content)
            time.sleep(0.1)
        raise AssertionError(f"no mail reached {address} within {timeout} s")


def code_in(raw):
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [part for part in message.walk() if part.get_content_type() == "text/plain"] or [message]
    text = "\n".join(part.get_content() for part in parts)
    found = re.search(r"^\s*(\d{6})\s*$", text, re.MULTILINE) or re.search(r"\b(\d{6})\b", text)
    assert found, f"no code in the mail: {text!r}"
    return found.group(1)


class MailTestCase(BrowserTestCase):
    """A server that sends its mail to an SMTP server in this process."""
    mail_server_args = ()

    def setUp(self):
        from aiosmtpd.controller import Controller
        self.inbox = Inbox()
        port = free_port()
        self.smtp = Controller(self.inbox, hostname="127.0.0.1", port=port)
        self.smtp.start()
        self.addCleanup(self.smtp.stop)
        self.server_args = ("--smtp-url", f"smtp://127.0.0.1:{port}", "--mail-from", "parley@example.test",
                            *self.mail_server_args)
        super().setUp()

    def send_code(self, browser, address):
        """Asks for a code for `address` in the open e-mail form; returns
        the code, as read from the mail."""
        before = len(self.inbox.messages)
        browser.fill("#auth-email", address)
        browser.wait_visible("#email-send-button").click()
        browser.wait_for(lambda: browser.visible("#code-sent") and browser.text("#code-sent")
                         == f"We sent a code to {address}.", "never said where the code went")
        return self.inbox.wait_code(address, after=before)

    def sign_in_by_code(self, browser, address, handle=None):
        """Signs in with a code to `address` from the sign-in screen (the
        handle typed in for a new account, if any); returns the token."""
        browser.wait_visible("#email-start-button").click()
        code = self.send_code(browser, address)
        browser.fill("#auth-code", code)
        if handle is not None:
            browser.fill("#auth-code-handle", handle)
        browser.wait_visible("#code-submit-button").click()
        browser.wait_ready()
        return browser.script("return sessionStorage.getItem('parley.token')")

    def open_account(self, browser):
        browser.wait_visible("#account-button").click()
        browser.wait_visible("#account-pane")
        browser.wait_for(lambda: browser.text("#account-email") != "…", "the linked address never loaded")

    def send_link_code(self, browser, address):
        """Asks for a code to link `address` in the open account pane, with
        the keyboard; returns the code, as read from the mail."""
        before = len(self.inbox.messages)
        browser.fill("#link-email", address).send_keys(Keys.ENTER)
        browser.wait_for(lambda: browser.visible("#link-code") and browser.text("#link-code-sent")
                         == f"We sent a code to {address}.", "never said where the code went")
        self.assertIsNone(browser.visible("#link-email"), "the address step hides meanwhile")
        return self.inbox.wait_code(address, after=before)

    def confirm_link_code(self, browser, code):
        browser.fill("#link-code", code).send_keys(Keys.ENTER)


class EmailSignInTests(MailTestCase):
    def test_signing_in_with_a_code_sent_by_e_mail(self):
        status, answer = self.server.call("GET", "/v1/sign-in")
        self.assertEqual((status, answer.get("password"), answer.get("email_code")), (200, True, True), answer)
        browser = self.browser(width=360, height=740)
        browser.wait_visible("#auth-form")
        browser.screenshot("sign-in-with-e-mail")
        browser.wait_visible("#email-start-button").click()
        browser.wait_visible("#auth-email")
        self.assertEqual(browser.script(UNLABELLED_FIELDS), [])
        self.assertEqual(browser.script(CONTRAST_FAILURES), [], "the e-mail form is readable")
        code = self.send_code(browser, "fay@example.test")
        self.assertIsNone(browser.visible("#auth-form"), "the password form hides meanwhile")
        self.assertEqual(browser.script(UNLABELLED_FIELDS), [])
        self.assertEqual(browser.script(CONTRAST_FAILURES), [], "the code form is readable")
        self.assertLessEqual(browser.script("return document.documentElement.scrollWidth - window.innerWidth"), 0)
        browser.screenshot("sign-in-code")

        # A wrong code is refused, and says what to do.
        wrong = "000000" if code != "000000" else "111111"
        browser.fill("#auth-code", wrong)
        browser.wait_visible("#code-submit-button").click()
        browser.wait_for(lambda: "wrong or has expired" in browser.text("#auth-error"), "no message for a wrong code")
        self.assertIsNone(browser.visible("#chat-view"))

        # The right one signs in: a new user for the new address.
        browser.fill("#auth-code", code)
        browser.wait_visible("#code-submit-button").click()
        browser.wait_ready()
        self.assertTrue(browser.text("#me-name"))
        token = browser.script("return sessionStorage.getItem('parley.token')")
        status, answer = self.server.call("GET", "/v1/me", token=token)
        self.assertEqual(status, 200, answer)

        # Logged out and in again with a new code: the same user.
        browser.wait_visible("#logout-button").click()
        browser.wait_visible("#email-start-button").click()
        browser.fill("#auth-code", self.send_code(browser, "fay@example.test"))
        browser.wait_visible("#code-submit-button").click()
        browser.wait_ready()
        token = browser.script("return sessionStorage.getItem('parley.token')")
        self.assertEqual(self.server.call("GET", "/v1/me", token=token)[1]["user"]["id"], answer["user"]["id"])

    def test_a_new_account_takes_the_handle_typed_with_the_code(self):
        browser = self.browser(width=360, height=740)
        browser.wait_visible("#email-start-button").click()
        code = self.send_code(browser, "hana@example.test")
        field = browser.wait_visible("#auth-code-handle")
        self.assertEqual(browser.script("return arguments[0].labels[0].textContent", field),
                         "Handle (for a new account)")
        self.assertIsNone(field.get_attribute("required"), "the handle is optional")
        self.assertEqual(browser.script(UNLABELLED_FIELDS), [])
        self.assertEqual(browser.script(CONTRAST_FAILURES), [], "the handle field and its note are readable")
        self.assertLessEqual(browser.script("return document.documentElement.scrollWidth - window.innerWidth"), 0)
        browser.screenshot("sign-in-code-handle")

        # Typed with the code: the new account has it.
        browser.fill("#auth-code", code)
        browser.fill("#auth-code-handle", "hana")
        browser.wait_visible("#code-submit-button").click()
        browser.wait_ready()
        token = browser.script("return sessionStorage.getItem('parley.token')")
        status, answer = self.server.call("GET", "/v1/me", token=token)
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["user"]["handle"], "hana")
        self.assertEqual(answer.get("email"), "hana@example.test")
        user_id = answer["user"]["id"]

        # An account the address has already keeps its handle.
        browser.wait_visible("#logout-button").click()
        token = self.sign_in_by_code(browser, "hana@example.test", handle="someone-else")
        status, answer = self.server.call("GET", "/v1/me", token=token)
        self.assertEqual((answer["user"]["id"], answer["user"]["handle"]), (user_id, "hana"), answer)
        self.assertEqual(browser.find("#auth-code-handle").get_attribute("value"), "", "the field is cleared")


class AccountEmailTests(MailTestCase):
    """A signed-in user links an e-mail address in the account pane."""

    def test_a_password_account_links_an_address_and_signs_in_with_it(self):
        browser = self.browser(width=360, height=740)
        browser.sign_up("ivy", "Ivy")
        token = browser.script("return sessionStorage.getItem('parley.token')")
        ivy_id = self.server.call("GET", "/v1/me", token=token)[1]["user"]["id"]

        # The pane, from the header: no address yet.
        self.open_account(browser)
        self.assertEqual(browser.find("#account-button").get_attribute("aria-expanded"), "true")
        self.assertEqual(browser.text("#account-email"), "No e-mail address linked")
        self.assertIn("@ivy", browser.text("#account-user"))
        self.assertEqual(browser.script(UNLABELLED_FIELDS), [])
        self.assertEqual(browser.script(CONTRAST_FAILURES), [], "the account pane is readable")
        overflow = "return document.documentElement.scrollWidth - window.innerWidth"
        self.assertLessEqual(browser.script(overflow), 0)
        browser.screenshot("account-no-email")

        # A code to the address; a wrong one is refused and says so, and
        # Ivy stays signed in.
        code = self.send_link_code(browser, "ivy@example.test")
        self.assertEqual(browser.script(UNLABELLED_FIELDS), [])
        self.assertEqual(browser.script(CONTRAST_FAILURES), [], "the code step is readable")
        self.assertLessEqual(browser.script(overflow), 0)
        self.confirm_link_code(browser, "000000" if code != "000000" else "111111")
        browser.wait_for(lambda: "wrong or has expired" in browser.text("#account-error"), "no message for a wrong code")
        self.assertTrue(browser.visible("#chat-view") and browser.visible("#account-pane"), "a wrong code ended the session")
        self.assertEqual(browser.script("return document.activeElement.id"), "link-code")
        self.assertEqual(browser.text("#account-email"), "No e-mail address linked")
        self.assertEqual(browser.script(CONTRAST_FAILURES), [], "the error is readable")
        browser.screenshot("account-wrong-code")

        # The right one links it: the pane shows the address.
        self.confirm_link_code(browser, code)
        browser.wait_for(lambda: browser.text("#account-email") == "ivy@example.test", "the linked address never showed")
        self.assertEqual(browser.text("#account-error"), "")
        self.assertIn("ivy@example.test is linked", browser.text("#account-status"))
        self.assertIsNone(browser.visible("#link-code-form"))
        self.assertEqual(browser.text("#link-email-label"), "Link another e-mail address")
        self.assertEqual(browser.script(CONTRAST_FAILURES), [], "the linked address is readable")
        self.assertLessEqual(browser.script(overflow), 0)
        browser.screenshot("account-email-linked")
        status, answer = self.server.call("GET", "/v1/me", token=token)
        self.assertEqual((status, answer.get("email")), (200, "ivy@example.test"), answer)

        # Escape closes the pane, focus back on its button; it opens again
        # with the address.
        browser.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
        browser.wait_for(lambda: not browser.visible("#account-pane"), "Escape left the pane open")
        self.assertEqual(browser.script("return document.activeElement.id"), "account-button")
        self.open_account(browser)
        self.assertEqual(browser.text("#account-email"), "ivy@example.test")

        # Logged out, a code to that address signs Ivy in: the same user.
        browser.wait_visible("#account-pane .close-panel").click()
        browser.wait_visible("#logout-button").click()
        token = self.sign_in_by_code(browser, "ivy@example.test", handle="not-ivy")
        status, answer = self.server.call("GET", "/v1/me", token=token)
        self.assertEqual((answer["user"]["id"], answer["user"]["handle"]), (ivy_id, "ivy"), answer)
        self.assertEqual(browser.text("#me-name"), "Ivy")
        self.open_account(browser)
        self.assertEqual(browser.text("#account-email"), "ivy@example.test")

    def test_an_address_of_another_account_is_not_linked(self):
        # Jo's account is the address's: made by a code to it.
        before = len(self.inbox.messages)
        self.assertEqual(self.server.call("POST", "/v1/login-codes", {"email": "jo@example.test"})[0], 202)
        code = self.inbox.wait_code("jo@example.test", after=before)
        status, answer = self.server.call("POST", "/v1/tokens", {"email": "jo@example.test", "code": code})
        self.assertEqual(status, 201, answer)
        self.server.sign_up("kim", "Kim")
        browser = self.browser()
        browser.log_in("kim")
        token = browser.script("return sessionStorage.getItem('parley.token')")

        self.open_account(browser)
        self.confirm_link_code(browser, self.send_link_code(browser, "jo@example.test"))
        browser.wait_for(lambda: "belongs to another account" in browser.text("#account-error"),
                         "no message for an address of another account")
        # Back at the address, to link another one.
        self.assertEqual(browser.script("return document.activeElement.id"), "link-email")
        self.assertEqual(browser.find("#link-email").get_attribute("value"), "jo@example.test")
        self.assertIsNone(browser.visible("#link-code"))
        self.assertEqual(browser.text("#account-email"), "No e-mail address linked")
        self.assertEqual(browser.script(CONTRAST_FAILURES), [], "the error is readable")
        self.assertTrue(browser.visible("#chat-view"))
        status, answer = self.server.call("GET", "/v1/me", token=token)
        self.assertEqual(status, 200, answer)
        self.assertNotIn("email", answer)



class EmailOnlySignInTests(MailTestCase):
    # No password accounts: a service key is how the product makes users.
    mail_server_args = ("--accounts", "off", "--service-key", SERVICE_KEY)

    def test_without_password_accounts_only_the_e_mail_form_shows(self):
        status, answer = self.server.call("GET", "/v1/sign-in")
        self.assertEqual((status, answer.get("password"), answer.get("email_code")), (200, False, True), answer)
        browser = self.browser()
        # Only the e-mail form: no handle, no password, no way back to them.
        browser.wait_visible("#auth-email")
        for hidden in ("#auth-form", "#auth-handle", "#auth-password", "#signup-button", "#login-button",
                       "#email-start-button", "#email-cancel-button"):
            self.assertIsNone(browser.visible(hidden), f"{hidden} shows on a server without passwords")
        code = self.send_code(browser, "gil@example.test")
        browser.fill("#auth-code", code)
        browser.wait_visible("#code-submit-button").click()
        browser.wait_ready()

        # Logged out: the e-mail form again, at once.
        browser.wait_visible("#logout-button").click()
        browser.wait_visible("#auth-email")
        self.assertIsNone(browser.visible("#auth-form"))


if __name__ == "__main__":
    unittest.main()
