"""The official OpenAI and Anthropic Python SDKs against the real `tollgate` binary, with the
bench mock provider on 127.0.0.1 speaking OpenAI (chat and Responses) and Anthropic: chat,
Responses, streams, tool round trips, stored responses, embeddings, images (OpenAI's and Imagen's,
generate and edit), audio (transcriptions, translations, streamed speech), moderations, and errors
raised as each SDK's own exception classes; the Cohere SDK (v1 and v2 clients) on `/v1/rerank` and
`/v2/rerank`; `AzureOpenAI` on the Azure-style paths; and the Anthropic and google-genai SDKs on the
provider pass-through routes (`/anthropic`, `/gemini`)."""

import json
import os
import pathlib
import socket
import subprocess
import time
import urllib.request

import anthropic
import cohere
import openai
from cohere.core.api_error import ApiError as CohereApiError
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
KEY = "sk-sdk-master"
TEXT = "Hello from the mock provider."
ARGS = {"city": "Paris"}
TOOLS_OPENAI = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
TOOLS_ANTHROPIC = [{"name": "get_weather", "description": "Weather for a city",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mock(extra):
    proc = subprocess.Popen([str(BIN / "mock-provider"), "--port", "0", "--chunks", "3", *extra],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening on "), line
    return proc, int(line.rsplit(":", 1)[1])


@pytest.fixture(scope="session")
def gateway(tmp_path_factory):
    text_mock, text_port = start_mock([])
    tool_mock, tool_port = start_mock(["--tool-call", "get_weather=" + json.dumps(ARGS)])
    config = tmp_path_factory.mktemp("sdk") / "config.yaml"
    config.write_text(f"""
model_list:
  - model_name: gpt-mock
    litellm_params: {{model: openai/gpt-up, api_base: "http://127.0.0.1:{text_port}/v1", api_key: sk-up}}
  - model_name: gpt-tools
    litellm_params: {{model: openai/gpt-up, api_base: "http://127.0.0.1:{tool_port}/v1", api_key: sk-up}}
  - model_name: claude-mock
    litellm_params: {{model: anthropic/claude-up, api_base: "http://127.0.0.1:{text_port}", api_key: sk-up}}
  - model_name: claude-tools
    litellm_params: {{model: anthropic/claude-up, api_base: "http://127.0.0.1:{tool_port}", api_key: sk-up}}
  - model_name: gemini-mock
    litellm_params: {{model: gemini/gemini-up, api_base: "http://127.0.0.1:{text_port}", api_key: sk-up}}
  - model_name: rerank-mock
    litellm_params: {{model: cohere/rerank-v3.5, api_base: "http://127.0.0.1:{text_port}", api_key: sk-up}}
  - model_name: imagen-mock
    litellm_params: {{model: gemini/imagen-4.0-generate-001, api_base: "http://127.0.0.1:{text_port}", api_key: sk-up}}
general_settings:
  master_key: {KEY}
tollgate_settings:
  database_path: "{config.parent / 'tollgate.db'}"
""")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    gw = subprocess.Popen([str(BIN / "tollgate"), "-c", str(config), "--host", "127.0.0.1", "--port", str(port)],
                          stderr=subprocess.PIPE, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(base + "/health/liveliness", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.05)
    else:
        gw.kill()
        pytest.fail("gateway did not start: " + gw.stderr.read().decode())
    yield base
    for p in (gw, text_mock, tool_mock):
        p.kill()
        p.wait()


@pytest.fixture
def oai(gateway):
    return openai.OpenAI(base_url=gateway + "/v1", api_key=KEY, max_retries=0)


@pytest.fixture
def claude(gateway):
    return anthropic.Anthropic(base_url=gateway, api_key=KEY, max_retries=0)


@pytest.mark.parametrize("model", ["gpt-mock", "claude-mock"])
def test_openai_chat_and_stream(oai, model):
    r = oai.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=20)
    assert r.choices[0].message.content == TEXT
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.total_tokens > 0
    chunks = list(oai.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                              max_tokens=20, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("model", ["gpt-tools", "claude-tools"])
def test_openai_tool_round_trip(oai, model):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    r = oai.chat.completions.create(model=model, messages=messages, tools=TOOLS_OPENAI, max_tokens=50)
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == ARGS
    messages += [r.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"}]
    r2 = oai.chat.completions.create(model=model.replace("tools", "mock"), messages=messages, tools=TOOLS_OPENAI,
                                     max_tokens=50)
    assert r2.choices[0].message.content == TEXT
    streamed = list(oai.chat.completions.create(model=model, messages=messages[:1], tools=TOOLS_OPENAI,
                                                max_tokens=50, stream=True))
    args = "".join(tc.function.arguments or "" for c in streamed if c.choices
                   for tc in (c.choices[0].delta.tool_calls or []))
    assert json.loads(args) == ARGS


TOOLS_RESPONSES = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
                    "parameters": TOOLS_OPENAI[0]["function"]["parameters"]}]


@pytest.mark.parametrize("model", ["gpt-mock", "claude-mock"])
def test_openai_responses_plain_and_streamed(oai, model):
    """`responses.create` on an OpenAI group (passed through) and an Anthropic one (bridged)."""
    r = oai.responses.create(model=model, input="hi", instructions="be brief", max_output_tokens=20)
    assert r.object == "response" and r.status == "completed"
    assert r.output_text == TEXT
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert oai.responses.retrieve(r.id).output_text == TEXT
    events = list(oai.responses.create(model=model, input="hi", max_output_tokens=20, stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"], types
    assert types[-1] == "response.completed", types
    for t in ["response.output_item.added", "response.content_part.added", "response.output_text.done",
              "response.content_part.done", "response.output_item.done"]:
        assert t in types, (t, types)
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == TEXT
    assert [e.sequence_number for e in events] == sorted(e.sequence_number for e in events)
    final = events[-1].response
    assert final.output_text == TEXT
    assert final.usage.output_tokens > 0 and final.usage.total_tokens > final.usage.output_tokens


@pytest.mark.parametrize("model", ["gpt-tools", "claude-tools"])
def test_openai_responses_function_tool_round_trip(oai, model):
    r = oai.responses.create(model=model, input="Weather in Paris?", tools=TOOLS_RESPONSES, max_output_tokens=50)
    call = next(i for i in r.output if i.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == ARGS
    result = {"type": "function_call_output", "call_id": call.call_id, "output": "18C and sunny"}
    # The conversation sent back whole, and continued from the stored response.
    r2 = oai.responses.create(model=model.replace("tools", "mock"), tools=TOOLS_RESPONSES, max_output_tokens=50,
                              input=[{"role": "user", "content": "Weather in Paris?"}, call, result])
    assert r2.output_text == TEXT
    r3 = oai.responses.create(model=model.replace("tools", "mock"), tools=TOOLS_RESPONSES, max_output_tokens=50,
                              previous_response_id=r.id, input=[result])
    assert r3.output_text == TEXT
    items = oai.responses.input_items.list(r3.id, order="asc")
    assert [i.type for i in items.data] == ["message", "function_call", "function_call_output"]
    streamed = list(oai.responses.create(model=model, input="Weather in Paris?", tools=TOOLS_RESPONSES,
                                         max_output_tokens=50, stream=True))
    args = "".join(e.delta for e in streamed if e.type == "response.function_call_arguments.delta")
    assert json.loads(args) == ARGS
    done = next(e for e in streamed if e.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments) == ARGS
    assert streamed[-1].type == "response.completed"
    oai.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(r.id)


def test_openai_embeddings(oai):
    r = oai.embeddings.create(model="gpt-mock", input=["a", "b"])
    assert [d.index for d in r.data] == [0, 1]
    assert len(r.data[0].embedding) > 0


def test_openai_images_generate(oai):
    r = oai.images.generate(model="gpt-mock", prompt="a cat", n=2, size="1024x1024", quality="hd")
    assert len(r.data) == 2
    assert r.data[0].url.startswith("https://")
    # The mock echoes what reached it: the client's size and quality, untouched.
    assert "size=1024x1024 quality=hd" in r.data[0].revised_prompt
    b = oai.images.generate(model="gpt-mock", prompt="a cat", response_format="b64_json")
    assert b.data[0].b64_json
    with pytest.raises(openai.BadRequestError):
        oai.images.generate(model="claude-mock", prompt="a cat")


def test_openai_moderations(oai):
    r = oai.moderations.create(model="gpt-mock", input=["hello", "there"])
    assert len(r.results) == 2
    assert r.results[0].flagged is False
    with pytest.raises(openai.BadRequestError):
        oai.moderations.create(model="claude-mock", input="x")


RERANK_DOCS = [
    "Carson City is the capital city of the American state of Nevada.",
    "Washington, D.C. is the capital of the United States.",
    "Capital punishment has existed in the United States since before it was a country.",
]


def test_cohere_sdk_rerank_v2_and_v1(gateway):
    query = "What is the capital of the United States?"
    v2 = cohere.ClientV2(api_key=KEY, base_url=gateway)
    r = v2.rerank(model="rerank-mock", query=query, documents=RERANK_DOCS, top_n=2)
    assert [x.index for x in r.results][0] == 1
    assert len(r.results) == 2
    assert r.results[0].relevance_score >= r.results[1].relevance_score
    assert r.meta.billed_units.search_units == 1
    v1 = cohere.Client(api_key=KEY, base_url=gateway)
    r = v1.rerank(model="rerank-mock", query=query, documents=RERANK_DOCS, top_n=1, return_documents=True)
    assert r.results[0].index == 1
    assert r.results[0].document.text == RERANK_DOCS[1]
    with pytest.raises(CohereApiError) as e:
        v2.rerank(model="gpt-mock-nope", query=query, documents=RERANK_DOCS)
    assert e.value.status_code in (400, 404)
    with pytest.raises(CohereApiError) as e:
        cohere.ClientV2(api_key="sk-wrong", base_url=gateway).rerank(model="rerank-mock", query=query,
                                                                    documents=RERANK_DOCS)
    assert e.value.status_code == 401


def test_openai_images_generate_on_imagen(oai):
    # Imagen's :predict behind the OpenAI API: the SDK's ImagesResponse, base64 images only.
    r = oai.images.generate(model="imagen-mock", prompt="a fox", n=2, size="1792x1024",
                            response_format="b64_json")
    assert [d.b64_json for d in r.data] == ["iVBORw0KGgo=", "iVBORw0KGgo="]
    assert r.data[0].url is None and r.created > 0
    # Without response_format (OpenAI's default is url): still b64_json, Imagen makes no URL.
    assert oai.images.generate(model="imagen-mock", prompt="a fox").data[0].b64_json
    with pytest.raises(openai.BadRequestError) as e:
        oai.images.generate(model="imagen-mock", prompt="a fox", size="3000x1000")
    assert e.value.body["param"] == "size"


def wav_bytes(secs):
    """`secs` seconds of 16 kHz mono 16-bit silence as a WAV file."""
    import struct
    data = secs * 32000
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
            + b"data" + struct.pack("<I", data) + b"\0" * data)


def test_openai_audio_transcriptions_translations_and_speech(oai):
    """The SDK's multipart upload (`file` as bytes) and the streamed speech response."""
    t = oai.audio.transcriptions.create(model="gpt-mock", file=("a.wav", wav_bytes(2), "audio/wav"),
                                        response_format="verbose_json")
    assert t.duration == 2.0 and TEXT in t.text
    plain = oai.audio.transcriptions.create(model="gpt-mock", file=("a.wav", wav_bytes(1), "audio/wav"),
                                            response_format="text")
    assert TEXT in plain
    tr = oai.audio.translations.create(model="gpt-mock", file=("a.wav", wav_bytes(1), "audio/wav"))
    assert TEXT in tr.text
    with oai.audio.speech.with_streaming_response.create(model="gpt-mock", voice="alloy", input="Hello there",
                                                         response_format="wav") as r:
        assert r.headers["content-type"] == "audio/wav"
        audio = b"".join(r.iter_bytes())
    assert audio.startswith(b"RIFF") and len(audio) == len("Hello there") * 100
    with pytest.raises(openai.BadRequestError):
        oai.audio.transcriptions.create(model="claude-mock", file=("a.wav", wav_bytes(1), "audio/wav"))


def test_openai_images_edit(oai):
    r = oai.images.edit(model="gpt-mock", image=("cat.png", b"\x89PNG fake", "image/png"), prompt="add a hat", n=2)
    assert len(r.data) == 2 and "add a hat" in r.data[0].revised_prompt


def test_openai_errors_are_the_sdk_exception_classes(gateway, oai):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gateway + "/v1", api_key="sk-wrong", max_retries=0).models.list()
    with pytest.raises(openai.BadRequestError) as e:
        oai.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert "gpt-mock" in str(e.value)
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="gpt-mock", messages=[{"role": "user", "content": "x"}],
                                    extra_body={"mock": {"status": 429}})
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="gpt-mock", messages=[{"role": "user", "content": "x"}],
                                    extra_body={"mock": {"status": 503}})
    assert [m.id for m in oai.models.list()] == ["gpt-mock", "gpt-tools", "claude-mock", "claude-tools",
                                                 "gemini-mock", "rerank-mock", "imagen-mock"]


@pytest.mark.parametrize("model", ["claude-mock", "gpt-mock"])
def test_anthropic_messages_and_stream(claude, model):
    m = claude.messages.create(model=model, max_tokens=20, system="be brief",
                               messages=[{"role": "user", "content": "hi"}])
    assert m.content[0].text == TEXT
    assert m.stop_reason == "end_turn"
    assert m.usage.output_tokens > 0
    with claude.messages.stream(model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == TEXT
    assert final.stop_reason == "end_turn"


@pytest.mark.parametrize("model", ["claude-tools", "gpt-tools"])
def test_anthropic_tool_round_trip(claude, model):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    m = claude.messages.create(model=model, max_tokens=50, tools=TOOLS_ANTHROPIC, messages=messages)
    use = next(b for b in m.content if b.type == "tool_use")
    assert m.stop_reason == "tool_use"
    assert use.name == "get_weather" and use.input == ARGS
    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C"}]}]
    m2 = claude.messages.create(model=model.replace("tools", "mock"), max_tokens=50, tools=TOOLS_ANTHROPIC,
                                messages=messages)
    assert m2.content[0].text == TEXT
    with claude.messages.stream(model=model, max_tokens=50, tools=TOOLS_ANTHROPIC, messages=messages[:1]) as s:
        final = s.get_final_message()
    assert next(b for b in final.content if b.type == "tool_use").input == ARGS


@pytest.mark.parametrize("model", ["claude-mock", "gpt-mock"])
def test_anthropic_system_role_message_beta_and_thinking(claude, model):
    """Claude Code's request shape through the SDK's beta API (`?beta=true`, `anthropic-beta`):
    a `system` turn inside `messages`, adaptive thinking with an effort, plain and streamed."""
    messages = [{"role": "user", "content": "hi"},
                {"role": "system", "content": "Answer briefly."},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": [{"type": "text", "text": "again", "cache_control": {"type": "ephemeral"}}]}]
    extra = dict(thinking={"type": "adaptive"}, output_config={"effort": "low"},
                 betas=["mid-conversation-system-2026-04-07", "effort-2025-11-24"],
                 extra_body={"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}})
    m = claude.beta.messages.create(model=model, max_tokens=20, system="be brief", messages=messages, **extra)
    assert m.content[0].text == TEXT
    assert m.usage.output_tokens > 0
    with claude.beta.messages.stream(model=model, max_tokens=20, messages=messages, **extra) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == TEXT
    assert final.stop_reason == "end_turn"


def test_anthropic_count_tokens_and_errors(gateway, claude):
    n = claude.messages.count_tokens(model="gpt-mock", messages=[{"role": "user", "content": "hello there"}])
    assert n.input_tokens > 0
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=gateway, api_key="sk-wrong", max_retries=0).messages.create(
            model="gpt-mock", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize("model", ["gpt-mock", "claude-mock"])
def test_azure_openai_client_on_deployment_paths(gateway, model):
    """`AzureOpenAI` sends `/openai/deployments/{model}/…?api-version=…` with the key in
    `api-key`: served from the model group the deployment names."""
    az = openai.AzureOpenAI(azure_endpoint=gateway, api_key=KEY, api_version="2024-10-21", max_retries=0)
    r = az.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=20)
    assert r.choices[0].message.content == TEXT
    chunks = list(az.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                             max_tokens=20, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    fixed = openai.AzureOpenAI(azure_endpoint=gateway, azure_deployment=model, api_key=KEY,
                               api_version="2024-10-21", max_retries=0)
    assert fixed.chat.completions.create(model="ignored", messages=[{"role": "user", "content": "hi"}],
                                         max_tokens=20).choices[0].message.content == TEXT
    if model == "gpt-mock":
        e = az.embeddings.create(model=model, input=["a", "b"])
        assert len(e.data) == 2
    with pytest.raises(openai.AuthenticationError):
        openai.AzureOpenAI(azure_endpoint=gateway, api_key="sk-wrong", api_version="2024-10-21",
                           max_retries=0).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=5)


def test_anthropic_sdk_on_the_anthropic_pass_through(gateway):
    """`base_url=…/anthropic`: the request goes to the Anthropic deployment as sent, with its key."""
    c = anthropic.Anthropic(base_url=gateway + "/anthropic", api_key=KEY, max_retries=0)
    msg = [{"role": "user", "content": "hi"}]
    m = c.messages.create(model="claude-up", max_tokens=20, messages=msg)
    assert m.content[0].text == TEXT and m.usage.output_tokens > 0
    with c.messages.stream(model="claude-up", max_tokens=20, messages=msg) as s:
        assert "".join(s.text_stream) == TEXT
        assert s.get_final_message().usage.output_tokens > 0
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=gateway + "/anthropic", api_key="sk-wrong", max_retries=0).messages.create(
            model="claude-up", max_tokens=5, messages=msg)


def test_google_genai_sdk_on_the_gemini_pass_through(gateway):
    """`base_url=…/gemini`: google-genai sends the key as `x-goog-api-key`."""
    opts = genai_types.HttpOptions(base_url=gateway + "/gemini")
    c = genai.Client(api_key=KEY, http_options=opts)
    r = c.models.generate_content(model="gemini-up", contents="hi")
    assert r.text == TEXT
    assert r.usage_metadata.candidates_token_count > 0
    streamed = "".join(ch.text or "" for ch in c.models.generate_content_stream(model="gemini-up", contents="hi"))
    assert streamed == TEXT
    bad = genai.Client(api_key="sk-wrong", http_options=opts)  # kept: a dropped Client closes its connection
    with pytest.raises(genai_errors.ClientError) as e:
        bad.models.generate_content(model="gemini-up", contents="hi")
    assert e.value.code == 401


def _new_key(gateway):
    req = urllib.request.Request(gateway + "/key/generate", data=json.dumps({"models": ["gpt-mock"]}).encode(),
                                 headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)["key"]


def _batch_file(model, n):
    return "".join(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                               "body": {"model": model, "messages": [{"role": "user", "content": f"q{i}"}]}}) + "\n"
                   for i in range(n)).encode()


def test_openai_files_and_batches(gateway):
    """`files.create/content`, `batches.create/retrieve/list/cancel` with a virtual key; another
    key gets the SDK's `NotFoundError` for them; `AzureOpenAI` uploads on `/openai/files`."""
    owner = openai.OpenAI(base_url=gateway + "/v1", api_key=_new_key(gateway), max_retries=0)
    other = openai.OpenAI(base_url=gateway + "/v1", api_key=_new_key(gateway), max_retries=0)
    f = owner.files.create(file=("in.jsonl", _batch_file("gpt-mock", 2)), purpose="batch")
    assert f.id and f.purpose == "batch"
    b = owner.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h",
                             metadata={"mock_complete_ms": "200"})
    for _ in range(100):
        b = owner.batches.retrieve(b.id)
        if b.status == "completed":
            break
        time.sleep(0.05)
    assert b.status == "completed" and b.request_counts.completed == 2
    lines = owner.files.content(b.output_file_id).text.splitlines()
    assert [json.loads(l)["custom_id"] for l in lines] == ["r0", "r1"]
    assert b.id in [x.id for x in owner.batches.list()]
    slow = owner.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h",
                                metadata={"mock_complete_ms": "60000"})
    assert owner.batches.cancel(slow.id).status in ("cancelling", "cancelled")
    for call in (lambda: other.batches.retrieve(b.id), lambda: other.files.content(b.output_file_id),
                 lambda: other.files.retrieve(f.id), lambda: other.batches.cancel(slow.id)):
        with pytest.raises(openai.NotFoundError):
            call()
    assert [x.id for x in other.batches.list()] == []
    az = openai.AzureOpenAI(azure_endpoint=gateway, api_key=KEY, api_version="2024-10-21", max_retries=0)
    assert az.files.create(file=("in.jsonl", _batch_file("gpt-mock", 1)), purpose="batch").id
    assert az.batches.retrieve(b.id).status == "completed"
    with pytest.raises(openai.BadRequestError, match="no OpenAI or Azure OpenAI deployment"):
        az.files.create(file=("in.jsonl", _batch_file("claude-mock", 1)), purpose="batch")


@pytest.fixture(scope="module")
def cached_gateway(tmp_path_factory):
    """A gateway with the response cache on (`type: local`), an Anthropic deployment (answers
    passed through to Anthropic clients) and an OpenAI one, on a mock of their own."""
    mock, mock_port = start_mock([])
    tool_mock, tool_port = start_mock(["--tool-call", "get_weather=" + json.dumps(ARGS)])
    config = tmp_path_factory.mktemp("sdk-cache") / "config.yaml"
    config.write_text(f"""
model_list:
  - model_name: gpt-mock
    litellm_params: {{model: openai/gpt-up, api_base: "http://127.0.0.1:{mock_port}/v1", api_key: sk-up}}
  - model_name: claude-mock
    litellm_params: {{model: anthropic/claude-up, api_base: "http://127.0.0.1:{mock_port}", api_key: sk-up}}
  - model_name: claude-tools
    litellm_params: {{model: anthropic/claude-up, api_base: "http://127.0.0.1:{tool_port}", api_key: sk-up}}
general_settings:
  master_key: {KEY}
tollgate_settings:
  database_path: "{config.parent / 'tollgate.db'}"
litellm_settings:
  cache: true
  cache_params: {{type: local}}
""")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    gw = subprocess.Popen([str(BIN / "tollgate"), "-c", str(config), "--host", "127.0.0.1", "--port", str(port)],
                          stderr=subprocess.PIPE, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(base + "/health/liveliness", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.05)
    else:
        gw.kill()
        pytest.fail("gateway did not start: " + gw.stderr.read().decode())
    yield base
    for p in (gw, mock, tool_mock):
        p.kill()
        p.wait()


@pytest.mark.parametrize("model", ["claude-mock", "claude-tools"])
def test_anthropic_sdk_replays_cached_pass_through_answers(cached_gateway, model):
    """An Anthropic deployment's answer, kept as it was, parses in the SDK whole and streamed."""
    c = anthropic.Anthropic(base_url=cached_gateway, api_key=KEY, max_retries=0)
    ask = dict(model=model, max_tokens=30, tools=TOOLS_ANTHROPIC,
               messages=[{"role": "user", "content": "Weather in Paris? " + model}])
    first = c.messages.with_raw_response.create(**ask)
    assert first.headers.get("x-litellm-cache-hit") is None
    first = first.parse()
    again = c.messages.with_raw_response.create(**ask)
    assert again.headers["x-litellm-cache-hit"] == "True"
    assert again.parse().model_dump() == first.model_dump()
    with c.messages.stream(**ask) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    def blocks(m):
        return [{k: v for k, v in b.model_dump().items() if k != "parsed_output"} for b in m.content]
    assert blocks(final) == blocks(first)
    assert final.stop_reason == first.stop_reason
    assert final.usage.output_tokens == first.usage.output_tokens
    assert text == "".join(b.text for b in first.content if b.type == "text")


def test_openai_sdk_embeddings_cached_item_by_item(cached_gateway):
    o = openai.OpenAI(base_url=cached_gateway + "/v1", api_key=KEY, max_retries=0)
    first = o.embeddings.create(model="gpt-mock", input=["one", "two"])
    r = o.embeddings.with_raw_response.create(model="gpt-mock", input=["two", "three", "one"])
    assert r.headers["x-tollgate-cache-items"] == "2/3"
    r = r.parse()
    assert [d.index for d in r.data] == [0, 1, 2]
    assert r.data[0].embedding == first.data[1].embedding
    assert r.data[2].embedding == first.data[0].embedding
    r = o.embeddings.with_raw_response.create(model="gpt-mock", input=["three"])
    assert r.headers["x-litellm-cache-hit"] == "True"
