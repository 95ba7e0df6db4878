// Traces across a typed call, over both transports: the caller's span, the call's client
// span, the server's span for the request (its child across the wire, by traceparent),
// and the store operation the handler made -- one trace, parents right, each span with its
// persona's service and the semantic conventions' attributes. Failed calls mark the spans
// as OpenTelemetry's HTTP conventions say.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "raw_http.h"
#include "snap/persona.h"
#include "snap/trace.h"
#include "test_app.h"

namespace snap::apitest {
namespace {

class Tracing : public ::testing::TestWithParam<Transport> {
 protected:
  Deployment& d() { return shared_deployment(GetParam()); }
  Endpoints& e() { return d().endpoints(); }
  PersonaContext& ctx() { return d().client(); }

  // Every span of `trace` that either app kept, oldest first per app.
  std::vector<SpanData> spans_of(const TraceId& trace) {
    std::vector<SpanData> out = d().server_app().recent_spans()->trace(trace);
    if (&ctx().app() != &d().server_app()) {
      for (SpanData& s : ctx().app().recent_spans()->trace(trace)) out.push_back(std::move(s));
    }
    return out;
  }
  static const SpanData& named(const std::vector<SpanData>& spans, std::string_view name, SpanKind kind) {
    for (const SpanData& s : spans) {
      if (s.name == name && s.kind == kind) return s;
    }
    throw std::runtime_error("no span " + std::string(name));
  }
  static const AttributeValue* attribute(const SpanData& s, std::string_view key) {
    for (const Attribute& a : s.attributes) {
      if (a.key == key) return &a.value;
    }
    return nullptr;
  }
};

INSTANTIATE_TEST_SUITE_P(Api, Tracing, ::testing::Values(Transport::kDev, Transport::kHttp),
                         [](const auto& info) { return to_string(info.param); });

TEST_P(Tracing, ACallIsAClientSpanWithTheServersSpanAsItsChildAndTheStoreBelow) {
  TraceId trace;
  {
    PersonaSpan root(ctx(), "test run", SpanKind::kInternal);
    trace = root.span().context().trace_id;
    EXPECT_FALSE(e().store_has(ctx(), "absent"));
  }
  const std::vector<SpanData> spans = spans_of(trace);
  ASSERT_EQ(spans.size(), 4u);
  const SpanData& root = named(spans, "test run", SpanKind::kInternal);
  const SpanData& client = named(spans, "POST /store-has", SpanKind::kClient);
  const SpanData& server = named(spans, "POST /store-has", SpanKind::kServer);
  const SpanData& store = named(spans, "has apitest-store", SpanKind::kClient);
  EXPECT_FALSE(root.parent.valid());
  EXPECT_EQ(client.parent, root.context.span_id);
  EXPECT_EQ(server.parent, client.context.span_id);
  EXPECT_EQ(store.parent, server.context.span_id);
  EXPECT_EQ(client.service, "client");
  EXPECT_EQ(server.service, "api");
  EXPECT_EQ(store.service, "api");
  EXPECT_EQ(*attribute(server, "http.response.status_code"), AttributeValue(std::int64_t{200}));
  EXPECT_EQ(*attribute(server, "http.route"), AttributeValue(std::string("/store-has")));
  EXPECT_EQ(*attribute(client, "http.request.method"), AttributeValue(std::string("POST")));
  EXPECT_EQ(*attribute(store, "db.system.name"), AttributeValue(std::string("memory")));
  EXPECT_EQ(*attribute(store, "db.operation.name"), AttributeValue(std::string("has")));
  for (const SpanData* s : {&root, &client, &server, &store}) EXPECT_FALSE(s->error) << s->name;
}

TEST_P(Tracing, AFailedCallMarksTheClientSpanAndOnlyA5xxTheServerSpan) {
  TraceId trace;
  {
    PersonaSpan root(ctx(), "test run", SpanKind::kInternal);
    trace = root.span().context().trace_id;
    EXPECT_THROW(e().fail(ctx(), Failure{"not_found", "no customer 2"}), ApiError);
    EXPECT_THROW(e().crash(ctx()), ApiError);
  }
  const std::vector<SpanData> spans = spans_of(trace);
  const SpanData& not_found_client = named(spans, "POST /fail", SpanKind::kClient);
  const SpanData& not_found_server = named(spans, "POST /fail", SpanKind::kServer);
  EXPECT_TRUE(not_found_client.error);
  EXPECT_THAT(not_found_client.status_message, ::testing::HasSubstr("no customer 2"));
  EXPECT_EQ(*attribute(not_found_client, "snap.error_code"), AttributeValue(std::string("not_found")));
  EXPECT_FALSE(not_found_server.error);  // a 4xx is the caller's error
  EXPECT_EQ(*attribute(not_found_server, "snap.error_code"), AttributeValue(std::string("not_found")));
  EXPECT_EQ(*attribute(not_found_server, "http.response.status_code"), AttributeValue(std::int64_t{404}));
  const SpanData& crash_server = named(spans, "POST /crash", SpanKind::kServer);
  EXPECT_TRUE(crash_server.error);
  EXPECT_EQ(*attribute(crash_server, "snap.error_code"), AttributeValue(std::string("internal")));
  // The span holds what the caller was told, never the exception's text (a secret here).
  EXPECT_THAT(crash_server.status_message, ::testing::Not(::testing::HasSubstr("hunter2")));
}

TEST_P(Tracing, ABodyAddsToItsSpanAndStartsChildren) {
  TraceId trace;
  {
    PersonaSpan root(ctx(), "test run", SpanKind::kInternal);
    trace = root.span().context().trace_id;
    ctx().span().set("customer.tier", "gold");
    Span child = ctx().start_span("price the order");
    child.set("items", 3);
  }
  const std::vector<SpanData> spans = spans_of(trace);
  ASSERT_EQ(spans.size(), 2u);
  const SpanData& root = named(spans, "test run", SpanKind::kInternal);
  const SpanData& child = named(spans, "price the order", SpanKind::kInternal);
  EXPECT_EQ(*attribute(root, "customer.tier"), AttributeValue(std::string("gold")));
  EXPECT_EQ(child.parent, root.context.span_id);
  EXPECT_EQ(*attribute(child, "items"), AttributeValue(std::int64_t{3}));
}

TEST_P(Tracing, OutsideAnySpanACallStartsItsOwnTrace) {
  const std::size_t before = ctx().app().recent_spans()->recent().size();
  e().store_has(ctx(), "absent");
  const std::vector<SpanData> after = ctx().app().recent_spans()->recent();
  ASSERT_GT(after.size(), before);
  const SpanData& client = after.front();  // the newest of the client's app
  EXPECT_EQ(client.kind, SpanKind::kClient);
  EXPECT_FALSE(client.parent.valid());
  EXPECT_EQ(spans_of(client.context.trace_id).size(), 3u);  // client, server, store
}

// A caller outside the system (no typed client) sends its own traceparent: the server's
// span continues that trace, under the caller's span.
TEST(TracingOverHttp, ACallersTraceparentFromOutsideIsHonoured) {
  Deployment d(Transport::kHttp);
  const std::string parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const std::string response = raw_exchange(d.api_port(),
                                        "POST /store-has HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                        "traceparent: " + parent + "\r\ntracestate: vendor=1\r\n"
                                        "Content-Length: 3\r\nConnection: close\r\n\r\n\"k\"");
  EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 200"));
  const SpanContext given = *parse_traceparent(parent);
  const std::vector<SpanData> spans = d.server_app().recent_spans()->trace(given.trace_id);
  ASSERT_EQ(spans.size(), 2u);  // the server's and its store operation's
  const SpanData& server = spans[0].kind == SpanKind::kServer ? spans[0] : spans[1];
  EXPECT_EQ(server.parent, given.span_id);
  EXPECT_EQ(server.context.trace_state, "vendor=1");
}

}  // namespace
}  // namespace snap::apitest
