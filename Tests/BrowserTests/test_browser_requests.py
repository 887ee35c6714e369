"""Strangers and people one blocks (issue 16): messages from someone Bob
blocked fold away and leave his unread count alone."""

import unittest

from support import CONTRAST_FAILURES
from test_browser_client import BrowserTestCase


def post(server, account, conversation, text, client_id):
    status, answer = server.call("POST", f"/v1/conversations/{conversation}/messages",
                                 {"text": text, "client_id": client_id}, token=account["token"])
    assert status == 201, (status, answer)
    return answer["message"]


def create_group(server, owner, title, members):
    status, answer = server.call("POST", "/v1/conversations",
                                 {"kind": "group", "title": title, "members": [m["id"] for m in members]},
                                 token=owner["token"])
    assert status == 201, (status, answer)
    return answer["conversation"]["id"]


FOLDS = "return [...document.querySelectorAll('#message-list li.fold .fold-label')].map(e => e.textContent)"


class BlockedSenderTests(BrowserTestCase):
    def test_a_blocked_members_messages_fold_and_leave_the_badge_alone(self):
        alice = self.server.sign_up("alice", "Alice")
        bob = self.server.sign_up("bob", "Bob")
        mallory = self.server.sign_up("mallory", "Mallory")
        group = create_group(self.server, alice, "Book club", [bob, mallory])
        status, _ = self.server.call("PUT", f"/v1/blocks/{mallory['id']}", token=bob["token"])
        self.assertEqual(status, 204)

        # Written before Bob logs in: the list's unread count leaves Mallory out.
        post(self.server, alice, group, "welcome", "a-1")
        post(self.server, mallory, group, "spam one", "m-1")
        post(self.server, alice, group, "anyone?", "a-2")
        browser = self.browser()
        browser.log_in("bob")
        browser.wait_for(lambda: browser.unread(group) == 2, "Bob's badge should count Alice's two messages")

        # Live: Mallory's two messages change nothing; Alice's next one counts.
        post(self.server, mallory, group, "spam two", "m-2")
        browser.wait_for(lambda: "someone you blocked" in browser.entry(group).text,
                         "the preview should not show a blocked sender's text")
        self.assertNotIn("spam two", browser.entry(group).text)
        post(self.server, mallory, group, "spam three", "m-3")
        post(self.server, alice, group, "last", "a-3")
        browser.wait_for(lambda: "last" in browser.entry(group).text, "Alice's message never reached the list")
        self.assertEqual(browser.unread(group), 3)
        self.assertEqual(browser.script("return document.title"), "(3) Parley")

        # Opened: Mallory's messages are folded, one line per run.
        browser.open_conversation(group)
        browser.wait_message("last")
        self.assertEqual([text for _, text, _, _ in browser.messages()], ["welcome", "anyone?", "last"])
        self.assertEqual(browser.script(FOLDS),
                         ["1 message from someone you blocked", "2 messages from someone you blocked"])
        browser.wait_for(lambda: browser.unread(group) == 0, "reading should clear the badge")

        # A click shows the run it stands for, and only that run.
        toggle = browser.find("#message-list li.fold button.fold-toggle")
        self.assertEqual(toggle.get_attribute("aria-expanded"), "false")
        toggle.click()
        browser.wait_message("spam one")
        self.assertEqual([text for _, text, _, _ in browser.messages()], ["welcome", "spam one", "anyone?", "last"])
        self.assertEqual(toggle.get_attribute("aria-expanded"), "true")
        self.assertEqual(browser.script(CONTRAST_FAILURES), [], "folded messages are readable")
        browser.screenshot("folded-blocked-messages")

        # And hides it again.
        toggle.click()
        browser.wait_for(lambda: "spam one" not in [text for _, text, _, _ in browser.messages()], "never folded again")


if __name__ == "__main__":
    unittest.main()
