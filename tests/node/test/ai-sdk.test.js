// The Vercel AI SDK (`ai` + `@ai-sdk/openai`), unmodified, against the gateway and the mock
// upstream. `createOpenAI({ baseURL, apiKey })` then `openai(model)` calls the Responses API
// (the SDK's default since AI SDK 5); `openai.chat(model)` calls Chat Completions. Each tool
// test is a full round trip: the model calls the tool, the SDK runs it, the second call
// answers from the tool's result.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { createOpenAI } from "@ai-sdk/openai";
import { APICallError, Output, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

import { CHAT_MODEL, CUT_MODEL, FORMATS, LIMITED_MODEL, startStack } from "./harness.js";

const PROMPT = "Say hello to the node suite";
const REPLY = "mock reply to: Say hello to the node suite";
const WEATHER_PROMPT = "What is the weather in Paris today?";
// The mock calls the first tool when the last user message mentions the weather, always with
// these arguments, and answers a tool result with "mock reply to tool result: <result>".
const TOOL_INPUT = { location: "Paris" };
const FORECAST = { location: "Paris", forecast: "Sunny, 22 C" };

// Mock token accounting: words of every message's text + 3 per message; a tool call is 2
// completion tokens, a text reply its words.
const words = (s) => s.split(/\s+/).filter(Boolean).length;
const STEP1_INPUT = words(WEATHER_PROMPT) + 3;

/**
 * What the second call (after the tool ran) answers, per upstream wire format. The tool's
 * result reaches the upstream as the JSON text the SDK made of it, except on Gemini, whose
 * `functionResponse.response` is an object: the gateway sends `{"result": <the JSON>}` and the
 * mock echoes that object (keys sorted). The mock counts the assistant's earlier call as its
 * name plus, where the format carries arguments as a string (OpenAI), the arguments.
 */
function afterTool(fmt) {
  const result = fmt === "gemini" ? JSON.stringify({ result: { forecast: "Sunny, 22 C", location: "Paris" } }) : JSON.stringify(FORECAST);
  const reply = `mock reply to tool result: ${result}`;
  const callWords = fmt === "openai" ? 2 : 1;
  return { reply, input: STEP1_INPUT + (callWords + 3) + (words(result) + 3), output: words(reply) };
}

let stack;
let openai;

before(async () => {
  stack = await startStack();
  openai = createOpenAI({ baseURL: `${stack.base}/v1`, apiKey: stack.key });
});

after(async () => {
  await stack?.close();
});

/** A weather tool that records what the SDK ran it with. */
function weatherTool(calls) {
  return tool({
    description: "Current weather for a city",
    inputSchema: z.object({ location: z.string() }),
    execute: async ({ location }) => {
      calls.push(location);
      return { location, forecast: "Sunny, 22 C" };
    },
  });
}

/** The upstream calls recorded since the last clear, for `model`. */
async function upstreamCalls(model) {
  const all = await stack.requests();
  return all.filter((r) => r.body?.model === model || String(r.path).includes(`/models/${model}:`));
}

function assertToolRoundTrip(fmt, steps, calls) {
  const want = afterTool(fmt);
  assert.equal(steps.length, 2, "one step calls the tool, the next answers");
  assert.deepEqual(calls, ["Paris"], "the SDK ran the tool once, with the model's arguments");
  const [first, second] = steps;
  assert.equal(first.finishReason, "tool-calls");
  assert.equal(first.toolCalls.length, 1);
  assert.equal(first.toolCalls[0].toolName, "weather");
  assert.deepEqual(first.toolCalls[0].input, TOOL_INPUT);
  assert.ok(first.toolCalls[0].toolCallId, "the call has an id");
  assert.equal(first.toolResults.length, 1);
  assert.deepEqual(first.toolResults[0].output, FORECAST);
  assert.equal(first.toolResults[0].toolCallId, first.toolCalls[0].toolCallId);
  assert.equal(first.text, "", "a tool-call step has no text");
  assert.equal(first.usage.inputTokens, STEP1_INPUT);
  assert.equal(first.usage.outputTokens, 2);
  assert.equal(second.finishReason, "stop");
  assert.equal(second.text, want.reply);
  assert.equal(second.toolCalls.length, 0);
  assert.equal(second.usage.inputTokens, want.input);
  assert.equal(second.usage.outputTokens, want.output);
}

function assertTotalUsage(fmt, usage) {
  const want = afterTool(fmt);
  assert.equal(usage.inputTokens, STEP1_INPUT + want.input);
  assert.equal(usage.outputTokens, 2 + want.output);
  assert.equal(usage.totalTokens, usage.inputTokens + usage.outputTokens);
}

/** Every part of a `fullStream`, grouped by step (split at `start-step`). */
async function partsByStep(fullStream) {
  const steps = [];
  for await (const part of fullStream) {
    if (part.type === "error") throw part.error;
    if (part.type === "start-step") steps.push([]);
    if (steps.length > 0) steps[steps.length - 1].push(part);
  }
  return steps;
}

describe("openai(model): the Responses API", () => {
  for (const fmt of FORMATS) {
    const model = CHAT_MODEL[fmt];

    test(`generateText, plain (${fmt} upstream)`, async () => {
      const r = await generateText({ model: openai(model), prompt: PROMPT, system: "Be brief." });
      assert.equal(r.text, REPLY);
      assert.equal(r.finishReason, "stop");
      // The system prompt reached the upstream as a message of its own (2 words + 3).
      assert.equal(r.usage.inputTokens, words(PROMPT) + 3 + 5);
      assert.equal(r.usage.outputTokens, words(REPLY));
      assert.equal(r.usage.totalTokens, r.usage.inputTokens + r.usage.outputTokens);
      assert.match(r.response.id, /^resp_/);
      assert.equal(r.response.modelId, model);
    });

    test(`generateText with a tool, round trip (${fmt} upstream)`, async () => {
      await stack.clearRequests();
      const calls = [];
      const r = await generateText({
        model: openai(model),
        prompt: WEATHER_PROMPT,
        tools: { weather: weatherTool(calls) },
        stopWhen: stepCountIs(3),
      });
      assertToolRoundTrip(fmt, r.steps, calls);
      assert.equal(r.text, afterTool(fmt).reply);
      assertTotalUsage(fmt, r.totalUsage);
      // The upstream saw two calls; the second carried the tool's result.
      const upstream = await upstreamCalls(model);
      assert.equal(upstream.length, 2);
      assert.ok(JSON.stringify(upstream[1].body).includes("Sunny, 22 C"), "the tool result reached the upstream");
    });

    test(`streamText with a tool, round trip (${fmt} upstream)`, async () => {
      const calls = [];
      const r = streamText({
        model: openai(model),
        prompt: WEATHER_PROMPT,
        tools: { weather: weatherTool(calls) },
        stopWhen: stepCountIs(3),
      });
      const parts = await partsByStep(r.fullStream);
      assert.equal(parts.length, 2);
      const types1 = parts[0].map((p) => p.type);
      assert.ok(!types1.includes("text-start") && !types1.includes("text-delta"), `no text in the call step: ${types1}`);
      assert.ok(types1.includes("tool-input-start") && types1.includes("tool-input-delta"), `${types1}`);
      const streamedInput = parts[0]
        .filter((p) => p.type === "tool-input-delta")
        .map((p) => p.delta)
        .join("");
      assert.deepEqual(JSON.parse(streamedInput), TOOL_INPUT, "the arguments arrived as deltas");
      const deltas = parts[1].filter((p) => p.type === "text-delta");
      assert.ok(deltas.length > 1, "the answer was streamed in pieces");
      assert.equal(deltas.map((p) => p.text).join(""), afterTool(fmt).reply);
      assertToolRoundTrip(fmt, await r.steps, calls);
      assert.equal(await r.text, afterTool(fmt).reply);
      assertTotalUsage(fmt, await r.totalUsage);
    });
  }

  test("streamText, plain: text deltas, finish and usage", async () => {
    const r = streamText({ model: openai(CHAT_MODEL.openai), prompt: PROMPT });
    const parts = await partsByStep(r.fullStream);
    assert.equal(parts.length, 1);
    const types = parts[0].map((p) => p.type);
    assert.deepEqual(types.slice(0, 2), ["start-step", "text-start"]);
    assert.deepEqual(types.slice(-3), ["text-end", "finish-step", "finish"]);
    assert.equal(await r.text, REPLY);
    assert.equal(await r.finishReason, "stop");
    const usage = await r.usage;
    assert.equal(usage.inputTokens, words(PROMPT) + 3);
    assert.equal(usage.outputTokens, words(REPLY));
  });

  for (const streamed of [false, true]) {
    test(`a conversation continued with the previous turn's response messages (first turn ${streamed ? "streamed" : "whole"})`, async () => {
      // The SDK sends the earlier assistant text back as an `item_reference` to the stored item
      // (its default `store: true`), so the gateway must resolve stored items by id.
      const model = openai(CHAT_MODEL.openai);
      let firstMessages;
      if (streamed) {
        const first = streamText({ model, prompt: PROMPT });
        assert.equal(await first.text, REPLY);
        firstMessages = (await first.response).messages;
      } else {
        const first = await generateText({ model, prompt: PROMPT });
        assert.equal(first.text, REPLY);
        firstMessages = first.response.messages;
      }
      await stack.clearRequests();
      const second = await generateText({
        model,
        messages: [{ role: "user", content: PROMPT }, ...firstMessages, { role: "user", content: "And once more" }],
      });
      assert.equal(second.text, "mock reply to: And once more");
      const [call] = await upstreamCalls(CHAT_MODEL.openai);
      const roles = call.body.messages.map((m) => m.role);
      assert.deepEqual(roles, ["user", "assistant", "user"]);
      assert.equal(call.body.messages[1].content, REPLY, "the referenced item's text reached the upstream");
    });
  }

  test("structured output: Output.object sends a json_schema text format", async () => {
    // In JSON mode the mock wraps its reply as {"answer": "<reply>"}.
    await stack.clearRequests();
    const r = await generateText({
      model: openai(CHAT_MODEL.openai),
      prompt: PROMPT,
      output: Output.object({ schema: z.object({ answer: z.string() }), name: "greeting" }),
    });
    assert.deepEqual(r.output, { answer: REPLY });
    const [call] = await upstreamCalls(CHAT_MODEL.openai);
    assert.equal(call.body.response_format.type, "json_schema");
    assert.equal(call.body.response_format.json_schema.name, "greeting");
    assert.deepEqual(call.body.response_format.json_schema.schema.required, ["answer"]);
  });

  test("log probabilities (providerOptions.openai.logprobs), whole and streamed", async () => {
    // The SDK asks with `include: ["message.output_text.logprobs"]` and `top_logprobs`; a Chat
    // Completions upstream needs `logprobs: true` with them. The mock gives the k-th token
    // the log probability -(k+1)/100, itself first among its alternatives.
    await stack.clearRequests();
    const model = openai(CHAT_MODEL.openai);
    const check = (tokens) => {
      assert.equal(tokens.map((t) => t.token).join(""), REPLY);
      tokens.forEach((t, k) => {
        assert.equal(t.logprob, -(k + 1) / 100);
        assert.equal(t.top_logprobs.length, 2);
        assert.deepEqual(t.top_logprobs[0], { token: t.token, logprob: t.logprob });
      });
    };
    const r = await generateText({ model, prompt: PROMPT, providerOptions: { openai: { logprobs: 2 } } });
    assert.equal(r.text, REPLY);
    assert.equal(r.providerMetadata.openai.logprobs.length, 1, "one output text part");
    check(r.providerMetadata.openai.logprobs[0]);
    const st = streamText({ model, prompt: PROMPT, providerOptions: { openai: { logprobs: 2 } } });
    assert.equal(await st.text, REPLY);
    // Streamed, the SDK keeps one list per text delta.
    check((await st.providerMetadata).openai.logprobs.flat());
    for (const call of await upstreamCalls(CHAT_MODEL.openai)) {
      assert.equal(call.body.logprobs, true);
      assert.equal(call.body.top_logprobs, 2);
      assert.equal(call.body.include, undefined);
    }
  });

  test("an item_reference to no stored item is a 400 naming the field", async () => {
    const r = await fetch(`${stack.base}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.key}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: CHAT_MODEL.openai,
        input: [{ type: "item_reference", id: "msg_0192f0c1a2b34c5d8e9f00112233aabb" }],
      }),
    });
    assert.equal(r.status, 400);
    const body = await r.json();
    assert.match(body.error.message, /Item with id 'msg_0192f0c1a2b34c5d8e9f00112233aabb' not found/);
    assert.equal(body.error.param, "input[0].id");
  });

  test("an unknown model is the SDK's own APICallError with the gateway's status", async () => {
    await assert.rejects(
      generateText({ model: openai("no-such-model"), prompt: PROMPT, maxRetries: 0 }),
      (e) => {
        assert.ok(APICallError.isInstance(e), `got ${e?.name}: ${e?.message}`);
        assert.equal(e.statusCode, 404);
        assert.equal(e.isRetryable, false);
        return true;
      },
    );
  });
});

describe("failures as the SDK reports them", () => {
  after(async () => {
    await stack.clearBehaviours();
  });

  for (const [name, behaviour, message] of [
    ["cut off", { cut_after_chunks: 4 }, /upstream stream/],
    ["an in-stream error", { error_after_chunks: 4, status: 500 }, /upstream error in stream/],
  ]) {
    for (const api of ["responses", "chat"]) {
      test(`a stream ${name} mid-answer (${api}): an error part and finish reason "error"`, async () => {
        await stack.push({ model: CUT_MODEL, ...behaviour });
        const r = streamText({
          model: api === "chat" ? openai.chat(CUT_MODEL) : openai(CUT_MODEL),
          prompt: "Say hello to a stream that breaks",
          maxRetries: 0,
          onError: () => {}, // the SDK logs stream errors to the console by default
        });
        const parts = [];
        for await (const part of r.fullStream) parts.push(part);
        const types = parts.map((p) => p.type);
        assert.ok(types.includes("text-delta"), `some text came first: ${types}`);
        const errors = parts.filter((p) => p.type === "error");
        assert.equal(errors.length, 1, `${types}`);
        assert.match(String(errors[0].error?.message), message);
        assert.equal(await r.finishReason, "error");
        assert.ok("mock reply to: Say hello to a stream that breaks".startsWith(await r.text));
        // The next request answers in full (and, succeeding, keeps the provider's breaker shut
        // for the next failure test: five failures in a row would open it).
        const again = await generateText({ model: openai(CUT_MODEL), prompt: PROMPT, maxRetries: 0 });
        assert.equal(again.text, REPLY);
      });
    }
  }

  test("a rate-limited upstream: APICallError 429, retryable, with Retry-After", async () => {
    await stack.push({ model: LIMITED_MODEL, status: 429, retry_after: 2, times: 5 });
    await assert.rejects(generateText({ model: openai(LIMITED_MODEL), prompt: PROMPT, maxRetries: 0 }), (e) => {
      assert.ok(APICallError.isInstance(e), `got ${e?.name}: ${e?.message}`);
      assert.equal(e.statusCode, 429);
      assert.equal(e.isRetryable, true);
      assert.ok(Number(e.responseHeaders["retry-after"]) >= 1, JSON.stringify(e.responseHeaders));
      return true;
    });
  });
});

describe("openai.completion(model): legacy completions", () => {
  test("generateText and streamText", async () => {
    const model = openai.completion(CHAT_MODEL.openai);
    await stack.clearRequests();
    const r = await generateText({ model, prompt: PROMPT });
    // The SDK writes the conversation as one prompt text ("user:\n...\n\nassistant:\n"); the
    // gateway answers it with a chat model, whose one user message is that text.
    const [call] = await upstreamCalls(CHAT_MODEL.openai);
    const sent = call.body.messages[0].content;
    assert.ok(sent.startsWith(`user:\n${PROMPT}\n`), JSON.stringify(sent));
    const reply = `mock reply to: ${sent.slice(0, 40)}`;
    assert.equal(r.text, reply);
    assert.equal(r.finishReason, "stop");
    assert.equal(r.usage.inputTokens, words(sent) + 3);
    assert.equal(r.usage.outputTokens, words(reply));
    const s = streamText({ model, prompt: PROMPT });
    const parts = await partsByStep(s.fullStream);
    assert.ok(parts[0].filter((p) => p.type === "text-delta").length > 1, "streamed in pieces");
    assert.equal(await s.text, reply);
    assert.equal((await s.usage).outputTokens, words(reply));
  });
});

describe("openai.chat(model): Chat Completions", () => {
  for (const fmt of FORMATS) {
    const model = CHAT_MODEL[fmt];

    test(`streamText with a tool, round trip (${fmt} upstream)`, async () => {
      const calls = [];
      const r = streamText({
        model: openai.chat(model),
        prompt: WEATHER_PROMPT,
        tools: { weather: weatherTool(calls) },
        stopWhen: stepCountIs(3),
      });
      const parts = await partsByStep(r.fullStream);
      assert.equal(parts.length, 2);
      // A streamed tool call's `content: null` must not become an empty text part.
      const types1 = parts[0].map((p) => p.type);
      assert.ok(!types1.includes("text-start") && !types1.includes("text-delta"), `no text in the call step: ${types1}`);
      assert.equal(parts[1].filter((p) => p.type === "text-start").length, 1);
      assertToolRoundTrip(fmt, await r.steps, calls);
      assert.equal(await r.text, afterTool(fmt).reply);
      assertTotalUsage(fmt, await r.totalUsage);
    });
  }

  test("generateText with a tool, round trip", async () => {
    const fmt = "openai";
    const calls = [];
    const r = await generateText({
      model: openai.chat(CHAT_MODEL.openai),
      prompt: WEATHER_PROMPT,
      tools: { weather: weatherTool(calls) },
      stopWhen: stepCountIs(3),
    });
    assertToolRoundTrip(fmt, r.steps, calls);
    assertTotalUsage(fmt, r.totalUsage);
  });
});
