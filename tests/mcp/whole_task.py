"""Drive `git agent mcp` through a whole task with the official MCP Python SDK.

Run from tests/it/mcp.rs (which starts a fake model server and a sample repository):

    GIT_AGENT_BIN=target/debug/git-agent python3 tests/mcp/whole_task.py

in the repository, with ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY pointing at the fake model.
It initializes, lists the tools, starts a task, polls its status until the run stops, reads a
checkpoint resource and rolls the task back, printing a transcript; any surprise fails it.
Works with the SDK's 1.x (camelCase fields) and 2.x (snake_case fields).
"""

import asyncio
import json
import os
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

TIMEOUT_S = 120


def field(obj, snake, camel=None):
    """A model field under its 2.x (snake_case) or 1.x (camelCase) name."""
    if obj is None:
        return None
    for name in (snake, camel):
        if name and hasattr(obj, name):
            return getattr(obj, name)
    return None


def say(direction, text):
    print(f"{direction} {text}", flush=True)


async def call(session, name, arguments, quiet=False):
    if not quiet:
        say("->", f"tools/call {name} {json.dumps(arguments)}")
    result = await session.call_tool(name, arguments)
    if field(result, "is_error", "isError"):
        text = " ".join(getattr(c, "text", "") for c in result.content)
        raise SystemExit(f"{name} failed: {text}")
    data = field(result, "structured_content", "structuredContent")
    if not isinstance(data, dict):
        raise SystemExit(f"{name} returned no structured content: {result}")
    return data


async def main():
    binary = os.environ["GIT_AGENT_BIN"]
    server = StdioServerParameters(command=binary, args=["mcp"], env=dict(os.environ), cwd=os.getcwd())
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            say("->", "initialize")
            init = await session.initialize()
            info = field(init, "server_info", "serverInfo")
            say("<-", f"server {info.name} {info.version}, protocol {field(init, 'protocol_version', 'protocolVersion')}")

            say("->", "tools/list")
            tools = (await session.list_tools()).tools
            by_name = {t.name: t for t in tools}
            expected = {"start", "resume", "stop", "say", "status", "list", "log", "diff", "plan", "rollback", "merge", "drop", "update"}
            assert set(by_name) == expected, sorted(by_name)
            for tool in sorted(tools, key=lambda t: t.name):
                notes = tool.annotations
                hints = []
                if field(notes, "read_only_hint", "readOnlyHint"):
                    hints.append("readOnly")
                if field(notes, "destructive_hint", "destructiveHint"):
                    hints.append("destructive")
                schema = field(tool, "input_schema", "inputSchema")
                say("<-", f"tool {tool.name:<8} [{', '.join(hints) or '-'}] inputs: {', '.join(sorted(schema.get('properties', {})))}")
            for name in ("rollback", "merge", "drop"):
                assert field(by_name[name].annotations, "destructive_hint", "destructiveHint") is True, name
            for name in ("status", "list", "log", "diff", "plan"):
                assert field(by_name[name].annotations, "read_only_hint", "readOnlyHint") is True, name

            began = time.monotonic()
            started = await call(session, "start", {"goal": "Add a --shout flag", "name": "shout"})
            waited = time.monotonic() - began
            say("<-", f"started {started['slug']} on {started['branch']} (pid {started['pid']}) in {waited:.2f}s")
            assert started["slug"] == "shout"

            say("->", 'tools/call status {"task": "shout"} (every 0.2 s until the run stops; changes shown)')
            last = None
            while True:
                status = await call(session, "status", {"task": "shout"}, quiet=True)
                line = f"state={status['state']} step={status['step']}/{status['steps']} checkpoints={status['checkpoints']} tests={status['tests']}"
                if line != last:
                    say("<-", f"[{time.monotonic() - began:5.2f}s] {line}")
                    last = line
                if status["state"] not in ("planning", "idle", "running"):
                    break
                if time.monotonic() - began > TIMEOUT_S:
                    raise SystemExit(f"the run did not stop within {TIMEOUT_S}s")
                await asyncio.sleep(0.2)
            assert status["state"] == "done", status
            assert status["checkpoints"] == 2, status

            plan = await call(session, "plan", {"task": "shout"})
            say("<-", f"plan: {plan['objective']!r}, test command {plan['test_command']!r}, steps done: {[s['done'] for s in plan['steps']]}")

            say("->", "resources/list")
            uris = [str(r.uri) for r in (await session.list_resources()).resources]
            say("<-", " ".join(uris))
            uri = "git-agent://shout/checkpoints/2"
            assert uri in uris, uris
            say("->", f"resources/read {uri}")
            contents = (await session.read_resource(uri)).contents
            checkpoint = json.loads(contents[0].text)
            trailers = checkpoint["trailers"]
            say("<-", f"checkpoint {checkpoint['checkpoint']} {checkpoint['commit'][:8]} {checkpoint['summary']!r}")
            for key in ("Agent-Step", "Agent-Tests", "Agent-Next", "Agent-Model"):
                say("  ", f"{key}: {trailers[key]}")
            record = checkpoint["record"]
            say("  ", f"record: model={record['model']} turns={record['turns']} tests exit={record['tests']['exit_code']}")
            assert trailers["Agent-Checkpoint"] == "2"
            assert trailers["Agent-Tests"].startswith("pass")

            rolled = await call(session, "rollback", {"task": "shout", "reason": "try another approach"})
            say("<-", f"rolled back {rolled['from'][:8]} -> {rolled['to'][:8]}, kept in {rolled['attic']}")
            assert rolled["to"] != rolled["from"]

            status = await call(session, "status", {"task": "shout"})
            say("<-", f"state={status['state']} step={status['step']}/{status['steps']} checkpoints={status['checkpoints']} attempts={status['attempts']}")
            assert status["checkpoints"] == 1 and status["attempts"] == 1, status
    say("ok", "the whole task went through the MCP server")


if __name__ == "__main__":
    asyncio.run(main())
