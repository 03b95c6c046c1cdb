"""An agent on the real Python MCP SDK, driven by the tests in mcp.rs.

usage: mcp_agent.py CONFIG_JSON

CONFIG_JSON: {"transport": "stdio", "command": ..., "args": [...], "env": {...}}
          or {"transport": "http", "url": ..., "api_key": ...}
     and "scenario": "approve" | "wait" | "get" | "bad" | "ask", and "decision_id" for "get".

Prints one JSON object a line: {"event": "tools", ...}, {"event": "waiting"} once the first
progress notification of a waiting call arrives, {"event": "result", ...} and the like.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


def say(**event):
    print(json.dumps(event), flush=True)


def transport(config):
    if config["transport"] == "stdio":
        return StdioServerParameters(command=config["command"], args=config["args"], env=config["env"])
    headers = {"Authorization": f"Bearer {config['api_key']}"}
    if config.get("origin"):
        headers["Origin"] = config["origin"]
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(120.0))
    return streamable_http_client(config["url"], http_client=http)


def structured(result):
    return {"is_error": bool(result.is_error), "structured": result.structured_content,
            "text": [c.text for c in result.content if getattr(c, "type", "") == "text"]}


async def main(config):
    scenario = config["scenario"]
    async with Client(transport(config)) as client:
        if scenario == "connect":
            say(event="connected")
            return
        tools = await client.list_tools()
        say(event="tools", tools={t.name: {"input": t.input_schema, "output": t.output_schema} for t in tools.tools})
        waiting = {"said": False}

        async def progress(progress, total, message):
            if not waiting["said"]:
                waiting["said"] = True
                say(event="waiting", progress=progress, total=total, message=message)

        if scenario in ("approve", "wait"):
            args = {
                "title": "Deploy build 42",
                "description": "Roll build 42 out to production.",
                "action": {"name": "deploy", "args": {"env": "production", "build": 42}},
                "risk": "high",
                "irreversible": True,
                "wait_seconds": config.get("wait_seconds", 60),
            }
            result = await client.call_tool("request_approval", args, progress_callback=progress)
            say(event="result", **structured(result))
            if scenario == "approve":
                decision_id = result.structured_content["decision_id"]
                again = await client.call_tool("get_decision", {"decision_id": decision_id})
                say(event="get", **structured(again))
        elif scenario == "ask":
            result = await client.call_tool(
                "ask_human",
                {"question": "Which region?", "choices": ["eu-west", "us-east"], "wait_seconds": 60},
                progress_callback=progress,
            )
            say(event="result", **structured(result))
        elif scenario == "permission":
            result = await client.call_tool(
                "permission_prompt",
                {"tool_name": "Bash", "input": {"command": "rm -rf build"}, "tool_use_id": "toolu_1"},
                progress_callback=progress,
            )
            say(event="result", **structured(result))
        elif scenario == "get":
            result = await client.call_tool("get_decision", {"decision_id": config["decision_id"]})
            say(event="result", **structured(result))
        elif scenario == "bad":
            try:
                await client.call_tool("launch_missiles", {})
                say(event="unknown_tool", error=None)
            except MCPError as e:
                say(event="unknown_tool", code=e.code, message=str(e))
            cases = {
                "missing_title": {"description": "d", "action": {"name": "x"}},
                "wrong_type": {"title": 7, "description": "d", "action": {"name": "x"}},
                "unknown_field": {"title": "t", "description": "d", "action": {"name": "x"}, "mode": "yolo"},
                "bad_risk": {"title": "t", "description": "d", "action": {"name": "x"}, "risk": "extreme"},
                "oversized": {"title": "t", "description": "d", "action": {"name": "x", "args": {"blob": "x" * 20000}}},
                "long_wait": {"title": "t", "description": "d", "action": {"name": "x"}, "wait_seconds": 100000},
            }
            for name, args in cases.items():
                result = await client.call_tool("request_approval", args)
                say(event="case", case=name, **structured(result))
            missing = await client.call_tool("get_decision", {"decision_id": "00000000-0000-4000-8000-000000000000"})
            say(event="case", case="unknown_decision", **structured(missing))
            expired = config.get("expired_id")
            if expired:
                result = await client.call_tool("get_decision", {"decision_id": expired})
                say(event="case", case="expired", **structured(result))


if __name__ == "__main__":
    try:
        asyncio.run(main(json.loads(sys.argv[1])))
    except Exception as e:  # the test reads the failure as an event
        say(event="failed", error=f"{type(e).__name__}: {e}")
        sys.exit(1)
