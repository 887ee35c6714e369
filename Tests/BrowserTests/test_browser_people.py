"""Starting chats in the browser: groups and their members, blocking, typing."""

import unittest

from test_browser_client import BrowserTestCase


class GroupTests(BrowserTestCase):
    def test_create_a_group_add_and_remove_members_and_leave(self):
        self.server.sign_up("alice", "Alice")
        carol = self.server.sign_up("carol", "Carol")
        dave = self.server.sign_up("dave", "Dave")
        self.server.sign_up("bob", "Bob")
        alice, bob = self.browser(), self.browser()
        alice.log_in("alice")
        bob.log_in("bob")

        alice.wait_visible("#new-group-button").click()
        alice.fill("#group-title", "Tea party")
        for handle in ("bob", "carol"):
            alice.fill("#group-member-search", handle)
            alice.wait_visible(f'#group-member-results li[data-user-handle="{handle}"] button').click()
            alice.wait_for(lambda h=handle: any(h in li.text.lower() for li in alice.find_all("#group-members li")))
        alice.wait_visible("#create-group-button").click()
        group = alice.wait_open_conversation()
        self.assertEqual(alice.text("#conversation-title"), "Tea party")
        alice.send("Welcome to the party")
        alice.wait_message("Welcome to the party", status="sent")

        # Bob hears of the group live and can read it.
        bob.wait_for(lambda: bob.entry(group) is not None, "Bob never saw the group")
        bob.open_conversation(group)
        bob.wait_message("Welcome to the party")
        status, _ = self.server.call("GET", f"/v1/conversations/{group}", token=carol["token"])
        self.assertEqual(status, 200)

        # The owner removes Carol and adds Dave from the details pane.
        alice.wait_visible("#details-button").click()
        alice.wait_visible(f'#member-list li[data-user-id="{carol["id"]}"] button.remove-member').click()
        alice.wait_for(lambda: alice.find(f'#member-list li[data-user-id="{carol["id"]}"]') is None, "Carol stayed")
        alice.fill("#add-member-search", "dave")
        alice.wait_visible('#add-member-results li[data-user-handle="dave"] button').click()
        alice.wait_for(lambda: alice.find(f'#member-list li[data-user-id="{dave["id"]}"]') is not None, "Dave never added")
        alice.screenshot("group-details")
        self.assertEqual(self.server.call("GET", f"/v1/conversations/{group}", token=carol["token"])[0], 404)
        self.assertEqual(self.server.call("GET", f"/v1/conversations/{group}", token=dave["token"])[0], 200)

        # Bob leaves: the group goes from his list, and from Alice's members.
        bob.wait_visible("#details-button").click()
        self.assertIsNone(bob.visible("button.remove-member"), "only the owner removes others")
        bob.wait_visible("#leave-button").click()
        bob.wait_for(lambda: bob.entry(group) is None, "the group stayed in Bob's list")
        alice.wait_for(lambda: len(alice.find_all("#member-list li")) == 2, "Bob still listed")


class BlockTests(BrowserTestCase):
    def test_block_and_unblock_a_user(self):
        alice, bob, _, _ = self.chatting_pair("hello")

        alice.wait_visible("#details-button").click()
        block = alice.wait_visible("#block-button")
        self.assertEqual(block.text, "Block")
        block.click()
        alice.wait_for(lambda: alice.find("#block-button").get_attribute("data-blocked") == "true", "never blocked")
        self.assertEqual(alice.text("#block-button"), "Unblock")

        # Bob's next message is refused, and he is told.
        bob.send("are you there?")
        bob.wait_message("are you there?", status="failed")

        # Alice finds Bob in her blocked list and unblocks him there.
        alice.wait_visible("#blocked-button").click()
        alice.wait_visible("#blocked-list li button.unblock-button").click()
        alice.wait_for(lambda: not alice.find_all("#blocked-list li"), "Bob is still listed as blocked")
        bob.send("and now?")
        # Alice has the chat open, so it may be read as soon as it is stored.
        bob.wait_message("and now?", status=("sent", "read"))
        alice.wait_message("and now?")
        self.assertNotIn("are you there?", [text for _, text, _, _ in alice.messages()])


class TypingTests(BrowserTestCase):
    def test_typing_shows_for_the_other_person(self):
        alice, bob, _, _ = self.chatting_pair("hi")
        bob.wait_visible("#composer-input").send_keys("I am writing something long")
        alice.wait_for(lambda: "Bob" in alice.text("#typing-indicator"), "no typing indicator")
        bob.wait_visible("#composer-send").click()
        alice.wait_message("I am writing something long")
        alice.wait_for(lambda: alice.text("#typing-indicator") == "", "the indicator stayed after the message")


if __name__ == "__main__":
    unittest.main()
