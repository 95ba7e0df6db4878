// A persona's logger (snap/logging.h): JSON lines a log pipeline parses, with the trace and
// span ids of the span the thread works in; the text form; and what a bad setting does.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>

#include "snap/logging.h"
#include "snap/memory_env.h"
#include "snap/trace.h"

namespace snap {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

struct Captured {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger(LogFormat format) {
    PersonaLogOptions options{"shop.api", "api", format, spdlog::level::info,
                              std::make_shared<spdlog::sinks::ostream_sink_mt>(out)};
    return make_persona_logger(options);
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> v;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);) v.push_back(line);
    return v;
  }
};

TEST(PersonaLog, JsonLinesCarryTheCurrentSpansIds) {
  Captured c;
  auto log = c.logger(LogFormat::kJson);
  MemoryEnv env;
  SpanCollector spans;
  Tracer tracer(env, {}, {&spans});
  log->info("starting");
  SpanContext context;
  {
    Span request = tracer.start("GET /x", SpanKind::kServer, "api", nullptr);
    context = request.context();
    ActiveSpan active(request, tracer, "api");
    log->warn("loaded customer {} \"{}\"", 7, "caf\xc3\xa9\xff");
  }
  const std::vector<std::string> lines = c.lines();
  ASSERT_EQ(lines.size(), 2u);
  const boost::json::object outside = boost::json::parse(lines[0]).as_object();
  EXPECT_EQ(outside.at("level"), "info");
  EXPECT_EQ(outside.at("persona"), "shop.api");
  EXPECT_EQ(outside.at("service"), "api");
  EXPECT_EQ(outside.at("message"), "starting");
  EXPECT_FALSE(outside.contains("trace_id"));
  EXPECT_THAT(std::string(outside.at("time").as_string()),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z"));
  const boost::json::object inside = boost::json::parse(lines[1]).as_object();
  EXPECT_EQ(inside.at("level"), "warning");
  EXPECT_EQ(inside.at("message"), "loaded customer 7 \"caf\xc3\xa9\xef\xbf\xbd\"");  // made valid UTF-8
  EXPECT_EQ(inside.at("trace_id").as_string(), context.trace_id.hex());
  EXPECT_EQ(inside.at("span_id").as_string(), context.span_id.hex());
}

TEST(PersonaLog, TextLinesNameThePersonaAndTheTrace) {
  Captured c;
  auto log = c.logger(LogFormat::kText);
  MemoryEnv env;
  Tracer tracer(env, {}, {});  // no sink: nothing recorded, the context still there
  Span span = tracer.start("job report", SpanKind::kInternal, "report", nullptr);
  {
    ActiveSpan active(span, tracer, "report");
    log->info("done");
  }
  log->error("after");
  const std::vector<std::string> lines = c.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], MatchesRegex("\\[[0-9-]+ [0-9:.]+\\] \\[shop.api\\] \\[info\\] done \\(trace [0-9a-f]{32} "
                                     "span [0-9a-f]{16}\\)"));
  EXPECT_THAT(lines[0], HasSubstr(span.context().trace_id.hex()));
  EXPECT_THAT(lines[1], MatchesRegex("\\[[0-9-]+ [0-9:.]+\\] \\[shop.api\\] \\[error\\] after"));
}

TEST(PersonaLog, FormatNames) {
  EXPECT_EQ(log_format_from("json"), LogFormat::kJson);
  EXPECT_EQ(log_format_from("text"), LogFormat::kText);
  EXPECT_FALSE(log_format_from("JSON"));
  EXPECT_FALSE(log_format_from(""));
}

}  // namespace
}  // namespace snap
