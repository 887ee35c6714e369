"""The browser client in real Chromium against a real `parley` process:
people sign up, chat, read, survive a server restart, and nothing a message
carries runs as code."""

import unittest

from support import CONTRAST_FAILURES, Browser, Server

INJECTION = ('<script>window.__parleyInjected = 1</script>'
             '<img src="x" onerror="window.__parleyInjected = 2"><b>bold?</b>')


class BrowserTestCase(unittest.TestCase):
    server_args = ()

    def setUp(self):
        self.server = Server(*self.server_args).start()
        self.addCleanup(self.server.close)
        self.browsers = []

    def browser(self, endpoint=None, **size):
        """A new person's browser, on `endpoint` (the test's server if none)."""
        browser = Browser(endpoint or self.server, **size)
        self.addCleanup(browser.quit)
        self.browsers.append(browser)
        return browser

    def tearDown(self):
        # A script error in the page fails the test that caused it. (Failed
        # requests, refused sockets while the server is down among them, are
        # the network's entries, and expected in these tests.)
        for browser in self.browsers:
            errors = [e for e in browser.console_errors() if e.get("source") != "network"]
            self.assertEqual(errors, [], "the page logged errors")

    def chatting_pair(self, first_message):
        """Alice and Bob, signed up over the API and logged in in two
        browsers, each with their direct chat open and `first_message`
        (Alice's) shown on both sides. Returns their accounts too."""
        accounts = self.server.sign_up("alice", "Alice"), self.server.sign_up("bob", "Bob")
        alice, bob = self.browser(), self.browser()
        alice.log_in("alice")
        bob.log_in("bob")
        conversation = alice.open_direct("bob")
        alice.send(first_message)
        bob.wait_for(lambda: bob.entry(conversation) is not None, "Bob never saw the conversation")
        bob.open_conversation(conversation)
        bob.wait_message(first_message)
        return alice, bob, conversation, accounts

    def assert_exactly(self, browser, texts):
        """The open conversation shows these texts once each, in this order,
        numbered 1, 2, 3 … with no gap."""
        shown = browser.messages()
        self.assertEqual([text for _, text, _, _ in shown], texts)
        self.assertEqual([seq for seq, _, _, _ in shown], list(range(1, len(texts) + 1)))


class DirectChatTests(BrowserTestCase):
    def test_two_people_sign_up_chat_and_see_unread_and_read_ticks(self):
        alice = self.browser()
        alice.screenshot("sign-in")
        alice.sign_up("alice", "Alice Liddell")
        bob = self.browser()
        bob.sign_up("bob", "Bob Builder")
        self.assertEqual(alice.text("#me-name"), "Alice Liddell")

        conversation = alice.open_direct("bob")
        self.assertEqual(alice.text("#conversation-title"), "Bob Builder")
        alice.send("Hello Bob!")
        alice.wait_message("Hello Bob!", status="sent")

        # Bob's list gets the conversation live, with the preview and a badge.
        bob.wait_for(lambda: bob.unread(conversation) == 1, "no unread badge for Bob")
        self.assertIn("Hello Bob!", bob.entry(conversation).find_element("css selector", ".conversation-preview").text)
        self.assertEqual(bob.entry(conversation).find_element("css selector", ".conversation-title").text, "Alice Liddell")
        dot = alice.entry(conversation).find_element("css selector", ".presence-dot")
        alice.wait_for(lambda: dot.get_attribute("data-online") == "true", "Bob never showed online")

        # Opening it reads it: the badge goes, Alice's message gets its read tick.
        bob.open_conversation(conversation)
        bob.wait_message("Hello Bob!")
        bob.wait_for(lambda: bob.unread(conversation) == 0, "the badge stayed")
        alice.wait_message("Hello Bob!", status="read")

        bob.send("Hi Alice, how are you?")
        alice.wait_message("Hi Alice, how are you?")
        bob.wait_message("Hi Alice, how are you?", status="read")
        self.assert_exactly(alice, ["Hello Bob!", "Hi Alice, how are you?"])
        self.assert_exactly(bob, ["Hello Bob!", "Hi Alice, how are you?"])
        alice.screenshot("direct-chat")

        # Logging out ends Bob's session: his token no longer works, and
        # Alice sees him go offline.
        bob.wait_visible("#logout-button").click()
        bob.wait_visible("#auth-form")
        self.assertIsNone(bob.script("return Object.keys(sessionStorage).length ? 'kept' : null"))
        alice.wait_for(lambda: dot.get_attribute("data-online") == "false", "Bob never showed offline")

    def test_sign_up_and_log_in_errors_are_shown(self):
        self.server.sign_up("alice")
        browser = self.browser()
        browser.fill("#auth-handle", "alice")
        browser.fill("#auth-password", "another password")
        browser.wait_visible("#signup-button").click()
        browser.wait_for(lambda: "taken" in browser.text("#auth-error"), "no message for a taken handle")

        browser.fill("#auth-password", "wrong password!")
        browser.wait_visible("#login-button").click()
        browser.wait_for(lambda: "password" in browser.text("#auth-error").lower(), "no message for a wrong password")
        self.assertTrue(browser.visible("#auth-form"))

        browser.log_in("alice")
        self.assertEqual(browser.text("#auth-error"), "")

    def test_too_many_failed_logins_say_when_to_try_again(self):
        self.server.sign_up("alice")
        for _ in range(10):  # the server's limit: 10 failures within 5 minutes
            status, _ = self.server.call("POST", "/v1/tokens", {"handle": "alice", "password": "not the password"})
            self.assertEqual(status, 401)
        browser = self.browser()
        browser.fill("#auth-handle", "alice")
        browser.fill("#auth-password", "correct horse battery")
        browser.wait_visible("#login-button").click()
        browser.wait_for(lambda: "try again in" in browser.text("#auth-error"), "no message for the rate limit")
        self.assertIn("minute", browser.text("#auth-error"))
        self.assertTrue(browser.visible("#auth-form"))

    def test_message_text_names_and_titles_are_shown_as_text(self):
        mallory = self.server.sign_up("mallory", display_name='<img src=x onerror="window.__parleyInjected=3">Mallory')
        bob = self.server.sign_up("bob")
        status, answer = self.server.call("POST", "/v1/conversations",
                                          {"kind": "group", "title": "<script>window.__parleyInjected=4</script>Tea",
                                           "members": [bob["id"]]}, token=mallory["token"])
        self.assertEqual(status, 201, answer)
        group = answer["conversation"]["id"]
        status, answer = self.server.call("POST", f"/v1/conversations/{group}/messages",
                                          {"text": INJECTION, "client_id": "m-1"}, token=mallory["token"])
        self.assertEqual(status, 201, answer)

        browser = self.browser()
        browser.log_in("bob")
        browser.wait_for(lambda: browser.entry(group) is not None, "the group is not listed")
        browser.open_conversation(group)
        browser.wait_message(INJECTION)
        self.assertEqual(browser.text("#conversation-title"), "<script>window.__parleyInjected=4</script>Tea")
        self.assertIn('<img src=x onerror="window.__parleyInjected=3">Mallory', browser.text("#message-list .message-sender"))
        self.assertEqual(browser.find_all("#message-list img, #message-list script, #message-list b"), [])
        self.assertEqual(browser.find_all("#conversation-list script, #conversation-list img"), [])
        self.assertIsNone(browser.script("return window.__parleyInjected ?? null"))


class ResilienceTests(BrowserTestCase):
    def test_a_server_restart_mid_conversation_loses_and_doubles_nothing(self):
        alice, bob, conversation, (alice_account, bob_account) = self.chatting_pair("before the restart")
        bob.send("me too")
        alice.wait_message("me too")

        self.server.kill()
        for browser in (alice, bob):
            browser.wait_for(lambda b=browser: b.connection_state() == "reconnecting", "no reconnecting state")
            self.assertIn("Reconnecting", browser.text("#connection-status"))
        # Written while the server is down: pending until it is back.
        alice.send("while it was down")
        alice.send("and another one")
        alice.wait_message("and another one", status="pending")
        self.assertEqual(alice.script(CONTRAST_FAILURES), [], "the reconnecting state is readable")
        alice.screenshot("reconnecting")

        self.server.start()
        # Sent over HTTP as soon as the server is back: the browsers fetch it
        # with `history` after `ready`, or get it live, but only once.
        status, answer = self.server.call("POST", f"/v1/conversations/{conversation}/messages",
                                          {"text": "posted by a bot as Bob", "client_id": "bot-1"},
                                          token=bob_account["token"])
        self.assertEqual(status, 201, answer)

        expected = ["before the restart", "me too", "while it was down", "and another one", "posted by a bot as Bob"]
        for browser in (alice, bob):
            browser.wait_for(lambda b=browser: b.connection_state() == "connected", "never reconnected", timeout=40)
            browser.wait_for(lambda b=browser: len(b.messages()) >= len(expected)
                             and all(seq is not None for seq, _, _, _ in b.messages()), "missing messages", timeout=40)
        alice.wait_message("and another one", status="read")
        order = [text for _, text, _, _ in alice.messages()]
        # The two written during the outage were stored in the order written
        # (the bot's may come before, between or after them).
        self.assertLess(order.index("while it was down"), order.index("and another one"))
        self.assertEqual(order, [text for _, text, _, _ in bob.messages()])
        self.assertEqual(sorted(order), sorted(expected))
        self.assert_exactly(alice, order)
        self.assert_exactly(bob, order)

        # And the server holds each exactly once.
        status, answer = self.server.call("GET", f"/v1/conversations/{conversation}/messages?after=0&limit=50",
                                          token=alice_account["token"])
        self.assertEqual([m["text"] for m in answer["messages"]], order)

    def test_two_tabs_of_one_person_stay_in_sync(self):
        alice = self.server.sign_up("alice", "Alice")
        bob = self.server.sign_up("bob", "Bob")
        first, second = self.browser(), self.browser()
        first.log_in("alice")
        second.log_in("alice")
        # Bob, over the API, opens the chat and writes: both tabs hear of it.
        status, answer = self.server.call("POST", "/v1/conversations", {"kind": "direct", "with": alice["id"]},
                                          token=bob["token"])
        self.assertEqual(status, 201, answer)
        conversation = answer["conversation"]["id"]
        status, answer = self.server.call("POST", f"/v1/conversations/{conversation}/messages",
                                          {"text": "one for both tabs", "client_id": "b-1"}, token=bob["token"])
        self.assertEqual(status, 201, answer)
        for tab in (first, second):
            tab.wait_for(lambda t=tab: t.unread(conversation) == 1, "a tab missed the message")

        # Reading in one tab clears the badge in the other.
        first.open_conversation(conversation)
        first.wait_message("one for both tabs")
        second.wait_for(lambda: second.unread(conversation) == 0, "the other tab kept its badge")

        # Sending in one tab shows the message, once, as Alice's, in the other.
        first.send("sent from the first tab")
        first.wait_message("sent from the first tab", status="sent")
        second.open_conversation(conversation)
        second.wait_message("sent from the first tab")
        self.assert_exactly(second, ["one for both tabs", "sent from the first tab"])
        self.assertTrue(second.messages()[1][2], "shown as Alice's own")


if __name__ == "__main__":
    unittest.main()
