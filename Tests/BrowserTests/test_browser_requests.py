"""Strangers and people one blocks (issue 16): messages from someone Bob
blocked fold away and leave his unread count alone; with chat requests on,
a stranger's conversation waits under "Requests" for Accept, Decline or
Block."""

import unittest

from support import CONTRAST_FAILURES, UNLABELLED_FIELDS
from test_browser_client import BrowserTestCase


def post(server, account, conversation, text, client_id):
    status, answer = server.call("POST", f"/v1/conversations/{conversation}/messages",
                                 {"text": text, "client_id": client_id}, token=account["token"])
    assert status == 201, (status, answer)
    return answer["message"]


def open_direct(server, account, other):
    status, answer = server.call("POST", "/v1/conversations", {"kind": "direct", "with": other["id"]},
                                 token=account["token"])
    assert status in (200, 201), (status, answer)
    return answer["conversation"]["id"]


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

    def test_blocking_folds_what_is_shown_and_unblocking_unfolds_it(self):
        alice = self.server.sign_up("alice", "Alice")
        bob = self.server.sign_up("bob", "Bob")
        mallory = self.server.sign_up("mallory", "Mallory")
        group = create_group(self.server, alice, "Book club", [bob, mallory])
        status, answer = self.server.call("POST", "/v1/conversations", {"kind": "direct", "with": bob["id"]},
                                          token=mallory["token"])
        self.assertEqual(status, 201, answer)
        direct = answer["conversation"]["id"]
        post(self.server, mallory, group, "buy now", "m-1")
        post(self.server, alice, group, "please don't", "a-1")
        browser = self.browser()
        browser.log_in("bob")
        browser.wait_for(lambda: browser.entry(group) is not None, "the group is not listed")
        browser.open_conversation(group)
        browser.wait_message("buy now")

        # Blocked from the direct chat's details: the group's message folds
        # at once, without a reload.
        browser.open_conversation(direct)
        browser.wait_visible("#details-button").click()
        browser.wait_visible("#block-button").click()
        browser.wait_for(lambda: browser.find("#block-button").get_attribute("data-blocked") == "true", "never blocked")
        browser.open_conversation(group)
        browser.wait_for(lambda: browser.script(FOLDS) == ["1 message from someone you blocked"], "never folded")
        self.assertEqual([text for _, text, _, _ in browser.messages()], ["please don't"])

        # Unblocked from the Blocked list: it shows again.
        browser.wait_visible("#blocked-button").click()
        browser.wait_visible("#blocked-list li button.unblock-button").click()
        browser.wait_for(lambda: browser.script(FOLDS) == [], "still folded after the unblock")
        self.assertEqual([text for _, text, _, _ in browser.messages()], ["buy now", "please don't"])


class ChatRequestTests(BrowserTestCase):
    server_args = ("--chat-requests", "on")

    def request_entry(self, browser, conversation):
        return browser.find(f'#request-list li.conversation[data-conversation-id="{conversation}"]')

    def chat_entry(self, browser, conversation):
        return browser.find(f'#conversation-list li.conversation[data-conversation-id="{conversation}"]')

    def answer(self, browser, conversation, action):
        browser.wait_visible(f'#request-list li[data-conversation-id="{conversation}"] '
                             f'button[data-request-action="{action}"]').click()

    def test_requests_wait_apart_and_are_accepted_declined_or_blocked(self):
        bob = self.server.sign_up("bob", "Bob")
        carol = self.server.sign_up("carol", "Carol")
        dave = self.server.sign_up("dave", "Dave")
        mallory = self.server.sign_up("mallory", "Mallory")
        browser = self.browser()
        browser.log_in("bob")
        self.assertIsNone(browser.visible("#request-section"), "no Requests section without requests")

        # A stranger writes: the conversation waits under Requests, not among the chats.
        with_carol = open_direct(self.server, carol, bob)
        post(self.server, carol, with_carol, "hi Bob, it's Carol", "c-1")
        browser.wait_for(lambda: self.request_entry(browser, with_carol) is not None, "Carol's request never showed")
        self.assertIsNone(self.chat_entry(browser, with_carol))
        self.assertEqual(browser.find("#request-heading").get_attribute("textContent"), "Requests")
        entry = self.request_entry(browser, with_carol)
        self.assertIn("Carol", entry.text)
        for action, label in (("accept", "Accept"), ("decline", "Decline"), ("block", "Block")):
            button = browser.wait_visible(f'#request-list li[data-conversation-id="{with_carol}"] '
                                          f'button[data-request-action="{action}"]')
            self.assertEqual((button.tag_name, button.text), ("button", label))
        self.assertEqual(entry.find_elements("css selector", ".presence-dot"), [], "no presence for a request")

        # Opened, it reads as usual, with the answers above the messages.
        browser.open_conversation(with_carol)
        browser.wait_message("hi Bob, it's Carol")
        self.assertIn("Carol wants to chat with you", browser.wait_visible("#request-bar").text)
        self.assertEqual(browser.script(UNLABELLED_FIELDS), [])
        self.assertEqual(browser.script(CONTRAST_FAILURES), [], "the Requests section and bar are readable")
        browser.screenshot("chat-requests")

        # Accept: it joins the chats, and the server agrees.
        self.answer(browser, with_carol, "accept")
        browser.wait_for(lambda: self.chat_entry(browser, with_carol) is not None, "accepted, but not among the chats")
        self.assertIsNone(self.request_entry(browser, with_carol))
        browser.wait_for(lambda: not browser.visible("#request-bar"), "the request bar stayed after accepting")
        browser.wait_for(lambda: not browser.visible("#request-section"), "an empty Requests section stayed")
        status, answer = self.server.call("GET", f"/v1/conversations/{with_carol}", token=bob["token"])
        self.assertEqual((status, answer["conversation"]["request"]), (200, False))

        # Decline: it goes, and the server no longer shows it to Bob.
        with_dave = open_direct(self.server, dave, bob)
        post(self.server, dave, with_dave, "hello?", "d-1")
        browser.wait_for(lambda: self.request_entry(browser, with_dave) is not None, "Dave's request never showed")
        self.answer(browser, with_dave, "decline")
        browser.wait_for(lambda: browser.entry(with_dave) is None, "the declined request stayed")
        self.assertEqual(self.server.call("GET", f"/v1/conversations/{with_dave}", token=bob["token"])[0], 404)

        # Block: Mallory is blocked, and her request goes.
        with_mallory = open_direct(self.server, mallory, bob)
        post(self.server, mallory, with_mallory, "click this link", "m-1")
        browser.wait_for(lambda: self.request_entry(browser, with_mallory) is not None, "Mallory's request never showed")
        self.answer(browser, with_mallory, "block")
        browser.wait_for(lambda: browser.entry(with_mallory) is None, "the blocked request stayed")
        status, answer = self.server.call("GET", "/v1/blocks", token=bob["token"])
        self.assertEqual([user["id"] for user in answer["users"]], [mallory["id"]])
        self.assertEqual(self.server.call("GET", f"/v1/conversations/{with_mallory}", token=bob["token"])[0], 404)
        self.assertIsNotNone(self.chat_entry(browser, with_carol), "the accepted chat stays")

    def test_replying_to_a_group_request_accepts_it(self):
        bob = self.server.sign_up("bob", "Bob")
        erin = self.server.sign_up("erin", "Erin")
        group = create_group(self.server, erin, "Knitting", [bob])
        post(self.server, erin, group, "welcome to the club", "e-1")
        browser = self.browser()
        browser.log_in("bob")

        # Listed from the HTTP list at log-in, as a request.
        browser.wait_for(lambda: self.request_entry(browser, group) is not None, "the group request never showed")
        browser.open_conversation(group)
        browser.wait_message("welcome to the club")
        self.assertIn("Erin added you to this group", browser.wait_visible("#request-bar").text)

        browser.send("thanks!")
        browser.wait_message("thanks!", status=("sent", "read"))
        browser.wait_for(lambda: self.chat_entry(browser, group) is not None, "replying did not accept the request")
        browser.wait_for(lambda: not browser.visible("#request-bar"), "the request bar stayed after replying")
        status, answer = self.server.call("GET", f"/v1/conversations/{group}", token=bob["token"])
        self.assertEqual((status, answer["conversation"]["request"]), (200, False))

    def test_a_request_answered_from_its_bar_on_a_phone(self):
        bob = self.server.sign_up("bob", "Bob")
        carol = self.server.sign_up("carol", "Carol")
        browser = self.browser(width=360, height=740)
        browser.log_in("bob")
        with_carol = open_direct(self.server, carol, bob)
        post(self.server, carol, with_carol, "a long hello from someone Bob does not know yet", "c-1")
        browser.wait_for(lambda: self.request_entry(browser, with_carol) is not None, "Carol's request never showed")
        overflow = "return document.documentElement.scrollWidth - window.innerWidth"
        self.assertLessEqual(browser.script(overflow), 0)
        self.assertEqual(browser.script(CONTRAST_FAILURES), [])
        browser.screenshot("phone-chat-requests")

        # On a phone the list hides behind the open request: its bar answers.
        browser.open_conversation(with_carol)
        browser.wait_visible('#request-bar button[data-request-action="accept"]').click()
        browser.wait_for(lambda: not browser.visible("#request-bar"), "the bar stayed after accepting")
        browser.wait_visible("#back-button").click()
        browser.wait_for(lambda: self.chat_entry(browser, with_carol) is not None, "accepted, but not among the chats")
        self.assertLessEqual(browser.script(overflow), 0)

    def test_an_answer_in_one_tab_shows_in_the_other(self):
        bob = self.server.sign_up("bob", "Bob")
        carol = self.server.sign_up("carol", "Carol")
        dave = self.server.sign_up("dave", "Dave")
        first, second = self.browser(), self.browser()
        first.log_in("bob")
        second.log_in("bob")
        with_carol = open_direct(self.server, carol, bob)
        with_dave = open_direct(self.server, dave, bob)
        for tab in (first, second):
            for conversation in (with_carol, with_dave):
                tab.wait_for(lambda t=tab, c=conversation: self.request_entry(t, c) is not None, "a request is missing")

        # Accepted in one tab (`accepted` event), declined in it (`declined` event).
        self.answer(first, with_carol, "accept")
        second.wait_for(lambda: self.chat_entry(second, with_carol) is not None, "the other tab kept the request")
        self.answer(first, with_dave, "decline")
        second.wait_for(lambda: second.entry(with_dave) is None, "the other tab kept the declined request")


if __name__ == "__main__":
    unittest.main()
