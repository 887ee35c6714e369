"""The browser client against a cluster (`scripts/cluster`): two nodes on
one PostgreSQL database, Debian's nginx in front. People on different
nodes chat as on one server, and a tab that came in through the load
balancer sees the same."""

import os
import unittest

from support import Cluster
from test_browser_client import BrowserTestCase


# The cluster always runs on PostgreSQL: scripts/test's second browser run
# (PARLEY_BROWSER_POSTGRES) would only repeat it.
@unittest.skipIf(os.environ.get("PARLEY_BROWSER_POSTGRES"), "run once, in the first browser run")
class ClusterBrowserTests(BrowserTestCase):
    def setUp(self):
        self.cluster = Cluster(nodes=2).start()
        self.addCleanup(self.cluster.close)
        self.browsers = []

    def test_people_on_two_nodes_and_behind_the_balancer_chat_as_on_one_server(self):
        self.cluster.balancer.sign_up("alice", "Alice")
        self.cluster.balancer.sign_up("bob", "Bob")
        # Alice on the first node, Bob on the second, and Alice again in a
        # tab that came in through nginx.
        alice = self.browser(self.cluster.nodes[0])
        bob = self.browser(self.cluster.nodes[1])
        alice_balanced = self.browser(self.cluster.balancer)
        alice.log_in("alice")
        bob.log_in("bob")
        alice_balanced.log_in("alice")

        conversation = alice.open_direct("bob")
        alice.send("Hello from node one")
        bob.wait_for(lambda: bob.unread(conversation) == 1, "Bob's node never heard of Alice's message")
        dot = alice.entry(conversation).find_element("css selector", ".presence-dot")
        alice.wait_for(lambda: dot.get_attribute("data-online") == "true", "Bob, on the other node, never showed online")

        # Bob reads it: Alice's tick turns to read; he answers.
        bob.open_conversation(conversation)
        bob.wait_message("Hello from node one")
        alice.wait_message("Hello from node one", status="read")
        bob.send("Hello back from node two")
        alice.wait_message("Hello back from node two")

        # The tab behind the balancer has the same conversation, in order.
        alice_balanced.wait_for(lambda: alice_balanced.entry(conversation) is not None, "the balanced tab never saw the chat")
        alice_balanced.open_conversation(conversation)
        alice_balanced.wait_message("Hello back from node two")
        self.assertEqual([(seq, text) for seq, text, _, _ in alice_balanced.messages()],
                         [(1, "Hello from node one"), (2, "Hello back from node two")])
        alice_balanced.send("and from wherever nginx put me")
        bob.wait_message("and from wherever nginx put me")
        alice.wait_message("and from wherever nginx put me")


if __name__ == "__main__":
    unittest.main()
