"""The browser client for everyone: phone width, keyboard only, labels and
contrast; and long histories and lists, loaded a page at a time."""

import time
import unittest

from selenium.webdriver.common.keys import Keys

from support import CONTRAST_FAILURES, UNLABELLED_FIELDS
from test_browser_client import BrowserTestCase


class AccessibilityTests(BrowserTestCase):
    def assert_accessible(self, browser, screen):
        self.assertEqual(browser.script(UNLABELLED_FIELDS), [], f"fields without a label on {screen}")
        self.assertEqual(browser.script(CONTRAST_FAILURES), [], f"text with too little contrast on {screen}")

    def press(self, browser, *keys):
        browser.driver.switch_to.active_element.send_keys(*keys)

    def tab_to(self, browser, css, limit=40):
        """Presses Tab until `css` has the focus, as a keyboard user would."""
        for _ in range(limit):
            if browser.script("return document.activeElement?.matches(arguments[0]) ?? false", css):
                return
            self.press(browser, Keys.TAB)
        self.fail(f"{css} cannot be reached with Tab")

    def test_phone_width_by_keyboard_alone_with_labels_and_contrast(self):
        self.server.sign_up("bob", "Bob")
        alice = self.browser(width=360, height=740)
        self.assertEqual(alice.script("return window.innerWidth"), 360)
        self.assert_accessible(alice, "the sign-in screen")

        # Sign up with the keyboard alone.
        self.tab_to(alice, "#auth-handle")
        self.press(alice, "alice")
        self.tab_to(alice, "#auth-password")
        self.press(alice, "correct horse battery")
        self.tab_to(alice, "#auth-display-name")
        self.press(alice, "Alice")
        self.tab_to(alice, "#signup-button")
        self.press(alice, Keys.ENTER)
        alice.wait_ready()
        self.assert_accessible(alice, "the conversation list")

        # Find Bob, open the chat, write, all by keyboard.
        self.tab_to(alice, "#people-search")
        self.press(alice, "bob")
        alice.wait_visible('#people-results li[data-user-handle="bob"] button')
        self.tab_to(alice, '#people-results li[data-user-handle="bob"] button')
        self.press(alice, Keys.ENTER)
        conversation = alice.wait_open_conversation()
        self.tab_to(alice, "#composer-input")
        self.press(alice, "Typed, not clicked")
        self.press(alice, Keys.ENTER)
        alice.wait_message("Typed, not clicked", status="sent")
        self.assert_accessible(alice, "a conversation")

        # One pane at a time, and nothing wider than the phone.
        overflow = "return document.documentElement.scrollWidth - window.innerWidth"
        self.assertLessEqual(alice.script(overflow), 0)
        self.assertIsNone(alice.visible("#conversation-list"), "the list hides behind an open conversation")
        alice.screenshot("phone-conversation")
        self.tab_to(alice, "#back-button")
        self.press(alice, Keys.ENTER)
        alice.wait_visible(f'li.conversation[data-conversation-id="{conversation}"]')
        self.assertLessEqual(alice.script(overflow), 0)
        alice.screenshot("phone-list")


class PagingTests(BrowserTestCase):
    # Seeding hundreds of messages over HTTP would take minutes at the
    # default one per second.
    server_args = ("--send-rate", "0")

    def test_history_scrolls_back_and_the_list_loads_more(self):
        alice = self.server.sign_up("alice", "Alice")
        bob = self.server.sign_up("bob", "Bob")
        status, answer = self.server.call("POST", "/v1/conversations", {"kind": "direct", "with": bob["id"]},
                                          token=alice["token"])
        chat = answer["conversation"]["id"]
        texts = [f"message number {n}" for n in range(1, 131)]
        for n, text in enumerate(texts):
            status, answer = self.server.call("POST", f"/v1/conversations/{chat}/messages",
                                              {"text": text, "client_id": f"seed-{n}"}, token=bob["token"])
            self.assertEqual(status, 201, answer)
        groups = []
        for n in range(40):
            status, answer = self.server.call("POST", "/v1/conversations",
                                              {"kind": "group", "title": f"Group {n:02}", "members": [alice["id"]]},
                                              token=bob["token"])
            groups.append(answer["conversation"]["id"])
        # The chat with history is the most recent again.
        self.server.call("POST", f"/v1/conversations/{chat}/messages", {"text": "the latest", "client_id": "seed-last"},
                         token=bob["token"])
        texts.append("the latest")

        browser = self.browser()
        browser.log_in("alice")
        browser.wait_for(lambda: browser.entry(chat) is not None)
        listed = lambda: [li.get_attribute("data-conversation-id") for li in browser.find_all("li.conversation")]
        self.assertEqual(listed()[0], chat, "most recent activity first")
        self.assertLess(len(listed()), 41, "the list is loaded a page at a time")

        # Scrolling the list to its end loads the rest, in order.
        for _ in range(10):
            if len(listed()) == 41:
                break
            browser.script("const l = document.querySelector('#conversation-list');"
                           "l.lastElementChild?.scrollIntoView(); l.scrollTop = l.scrollHeight;")
            time.sleep(0.3)
        browser.wait_for(lambda: len(listed()) == 41, "the list never loaded its last page")
        self.assertEqual(listed(), [chat] + list(reversed(groups)))

        # The newest messages first; scrolling up fetches the older ones.
        browser.open_conversation(chat)
        browser.wait_message("the latest")
        first_page = browser.messages()
        self.assertLess(len(first_page), len(texts), "history is loaded a page at a time")
        for _ in range(20):
            if len(browser.messages()) == len(texts):
                break
            before = len(browser.messages())
            browser.script("document.querySelector('#message-list').scrollTop = 0;"
                           "document.querySelector('#message-list li.message')?.scrollIntoView();")
            browser.wait_for(lambda b=before: len(browser.messages()) > b or len(browser.messages()) == len(texts),
                             "scrolling up loaded nothing")
        self.assert_exactly(browser, texts)


if __name__ == "__main__":
    unittest.main()
