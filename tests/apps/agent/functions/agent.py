"""The library's functions, registered as agent:* (listMessages, stop, ...)."""

from reactor.agent import agent_functions

globals().update(agent_functions(public=True))
