// Episode files (snap/episode_file.h): writing, reading and showing them -- what needs
// the log format and JSON only, so the fuzzer of the episode reader builds it alone.
#include "snap/episode_file.h"

#include <cstdio>
#include <ctime>

#include <boost/json.hpp>

#include "snap/log_reader.h"
#include "snap/log_writer.h"
#include "snap/text.h"

namespace snap {

namespace {

// The events that frame an episode's inputs.
constexpr std::string_view kRequestKind = "episode.request";
constexpr std::string_view kResponseKind = "episode.response";

[[noreturn]] void not_an_episode(const std::filesystem::path& path, const std::string& why) {
  throw LogError(LogErrorCode::kCorrupt, printable(path.string()) + ": not a well-formed episode: " + why);
}

const boost::json::object& object_of(const std::filesystem::path& path, const boost::json::value& v,
                                     std::string_view what) {
  if (!v.is_object()) not_an_episode(path, std::string(what) + " is not a JSON object");
  return v.get_object();
}

std::string string_member(const std::filesystem::path& path, const boost::json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (v == nullptr || !v->is_string()) not_an_episode(path, "\"" + std::string(name) + "\" is not a string");
  return std::string(v->get_string());
}

std::int64_t integer_member(const std::filesystem::path& path, const boost::json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (v == nullptr || !v->is_int64()) not_an_episode(path, "\"" + std::string(name) + "\" is not an integer");
  return v->get_int64();
}

boost::json::value parse_or_fail(const std::filesystem::path& path, std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) not_an_episode(path, std::string(what) + " is not JSON: " + ec.message());
  return v;
}

// "20261207T101502.117Z": sorts as time does.
std::string compact_time(std::int64_t unix_ns) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];  // room for any int in each field: a hostile file's time is shown, not trusted
  std::snprintf(text, sizeof text, "%04d%02d%02dT%02d%02d%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>((unix_ns / 1'000'000) % 1000));
  return text;
}

}  // namespace

namespace episode_detail {

std::string short_body(std::string_view body) {
  constexpr std::size_t kShown = 200;
  std::string out = printable(body.substr(0, kShown));
  if (body.size() > kShown) out += "... (" + std::to_string(body.size()) + " bytes)";
  return out;
}

std::string file_time(std::int64_t unix_ns) { return compact_time(unix_ns); }

}  // namespace episode_detail

using episode_detail::short_body;

// ---- files ----

void write_episode(const std::filesystem::path& path, const EpisodeInfo& info, const std::vector<OwnedEvent>& inputs,
                   Env& env) {
  LogHeader header;
  header.app_name = info.app;
  header.binary_fingerprint = info.build;
  header.writer_version = "snap-episode-1";
  header.kind = std::string(kEpisodeLogKind);
  LogWriterOptions options;
  options.env = &env;
  options.sync_on_finish = false;  // a lost episode costs a debugging aid, not data
  auto writer = LogWriter::create(path, header, options);

  boost::json::array headers;
  for (const auto& [name, value] : info.request.headers) headers.push_back(boost::json::array{name.c_str(), value.c_str()});
  const std::string request = boost::json::serialize(boost::json::object{
      {"app", info.app},
      {"build", info.build},
      {"persona", info.request.persona},
      {"target", info.request.target},
      {"body", info.request.body},
      {"headers", std::move(headers)},
      {"trace_id", info.trace_id},
      {"started_unix_ns", info.started_unix_ns},
  });
  const std::string route = info.request.method + " " + info.request.route;
  EventRecord first;
  first.kind = kRequestKind;
  first.key = route;
  first.result_kind = ResultKind::kBytes;
  first.bytes = request;
  writer->append(first);
  for (const OwnedEvent& e : inputs) writer->append(e.view());
  const std::string response = boost::json::serialize(boost::json::object{
      {"status", info.response.status},
      {"body", info.response.body},
      {"duration_ns", info.duration_ns},
  });
  EventRecord last;
  last.kind = kResponseKind;
  last.key = route;
  last.result_kind = ResultKind::kBytes;
  last.bytes = response;
  writer->append(last);
  writer->finish(Manifest{});
}

LoadedEpisode read_episode(const std::filesystem::path& path, Env& env, const LogReaderLimits& limits) {
  auto reader = LogReader::open(path, limits, env);
  if (reader->header().kind != kEpisodeLogKind) {
    throw LogError(LogErrorCode::kNotASnapshotLog,
                   printable(path.string()) + ": a build's log, not an episode (`verify` replays a build's log)");
  }
  LoadedEpisode out;
  out.path = path;
  std::vector<OwnedEvent> events;
  while (const EventRecord* e = reader->next()) events.push_back(OwnedEvent::of(*e));
  if (events.size() < 2 || events.front().kind != kRequestKind || events.back().kind != kResponseKind) {
    not_an_episode(path, "its events do not start with the request and end with the response");
  }
  const OwnedEvent& first = events.front();
  const auto space = first.key.find(' ');
  if (space == std::string::npos || first.result_kind != ResultKind::kBytes) {
    not_an_episode(path, "its request event names no endpoint");
  }
  EpisodeInfo& info = out.info;
  info.request.method = first.key.substr(0, space);
  info.request.route = first.key.substr(space + 1);
  const boost::json::value request_value = parse_or_fail(path, first.bytes, "the request");
  const auto& request = object_of(path, request_value, "the request");
  info.app = string_member(path, request, "app");
  info.build = string_member(path, request, "build");
  info.request.persona = string_member(path, request, "persona");
  info.request.target = string_member(path, request, "target");
  info.request.body = string_member(path, request, "body");
  info.trace_id = string_member(path, request, "trace_id");
  info.started_unix_ns = integer_member(path, request, "started_unix_ns");
  const auto* headers = request.if_contains("headers");
  if (headers == nullptr || !headers->is_array()) not_an_episode(path, "\"headers\" is not an array");
  for (const auto& h : headers->get_array()) {
    if (!h.is_array() || h.get_array().size() != 2 || !h.get_array()[0].is_string() || !h.get_array()[1].is_string()) {
      not_an_episode(path, "a header is not a [name, value] pair of strings");
    }
    info.request.headers.emplace_back(std::string(h.get_array()[0].get_string()),
                                      std::string(h.get_array()[1].get_string()));
  }
  const OwnedEvent& last = events.back();
  const boost::json::value response_value = parse_or_fail(path, last.bytes, "the response");
  const auto& response = object_of(path, response_value, "the response");
  const std::int64_t status = integer_member(path, response, "status");
  if (status < 100 || status > 599) not_an_episode(path, "the response status is not an HTTP status");
  info.response.status = static_cast<int>(status);
  info.response.body = string_member(path, response, "body");
  info.duration_ns = integer_member(path, response, "duration_ns");
  events.pop_back();
  events.erase(events.begin());
  out.inputs = std::move(events);
  return out;
}

// ---- listing ----

namespace {

// "20261207T101502.117Z" and "2026-12-07T10:15:02.117Z" alike: digits and T, for comparing.
std::string time_key(std::string_view time) {
  std::string out;
  for (char c : time) {
    if ((c >= '0' && c <= '9') || c == 'T') out += c;
  }
  return out;
}

std::string iso_time(std::int64_t unix_ns) {
  const std::string compact = compact_time(unix_ns);  // 20261207T101502.117Z
  return compact.substr(0, 4) + "-" + compact.substr(4, 2) + "-" + compact.substr(6, 2) + "T" + compact.substr(9, 2) +
         ":" + compact.substr(11, 2) + ":" + compact.substr(13);
}

}  // namespace

EpisodeSummary summarize(const LoadedEpisode& e) {
  return EpisodeSummary{e.path,
                        iso_time(e.info.started_unix_ns),
                        e.info.request.persona,
                        e.info.request.method + " " + e.info.request.route,
                        e.info.response.status,
                        static_cast<double>(e.info.duration_ns) / 1e6,
                        e.info.trace_id};
}

std::string summary_table(const std::vector<EpisodeSummary>& episodes) {
  std::string out = "TIME                      STATUS  DURATION  PERSONA  ENDPOINT  TRACE  FILE\n";
  for (const EpisodeSummary& e : episodes) {
    char duration[32];
    std::snprintf(duration, sizeof duration, "%.1fms", e.duration_ms);
    out += e.time + "  " + std::to_string(e.status) + "  " + duration + "  " + printable(e.persona) + "  " +
           printable(e.endpoint) + "  " + printable(e.trace_id) + "  " + printable(e.file.filename().string()) + "\n";
  }
  return out;
}

std::string summary_json(const EpisodeSummary& e) {
  return boost::json::serialize(boost::json::object{
      {"file", e.file.string()},
      {"time", e.time},
      {"persona", e.persona},
      {"endpoint", e.endpoint},
      {"status", e.status},
      {"duration_ms", e.duration_ms},
      {"trace_id", e.trace_id},
  });
}

bool EpisodeFilter::matches(const EpisodeSummary& e) const {
  if (failed_only && !e.failed()) return false;
  if (!since.empty()) {
    const std::string from = time_key(since);
    if (time_key(e.time).substr(0, from.size()) < from) return false;
  }
  if (!id.empty()) {
    const std::string name = e.file.filename().string();
    if (name != id && name != id + std::string(kEpisodeFileSuffix) && !e.trace_id.starts_with(id)) return false;
  }
  return true;
}


namespace {

std::string reply_text(const OwnedEvent& e) {
  switch (e.result_kind) {
    case ResultKind::kNone: return "(none)";
    case ResultKind::kInteger: return std::to_string(e.integer);
    case ResultKind::kSecretHandle: return "secret handle " + printable(e.bytes);
    case ResultKind::kFailure: return "failed: " + short_body(e.bytes);
    case ResultKind::kBytes: return short_body(e.bytes);
  }
  return {};
}

}  // namespace

std::string describe_episode(const LoadedEpisode& e) {
  const EpisodeInfo& info = e.info;
  const EpisodeSummary s = summarize(e);
  std::string out = "episode " + printable(e.path.string()) + "\n";
  out += "  app " + printable(info.app) + ", build " + printable(info.build) + ", persona " +
         printable(info.request.persona) + "\n";
  out += "  " + s.time + "  trace " + printable(info.trace_id) + "\n";
  out += "request: " + printable(info.request.method) + " " + printable(info.request.target) + "  (route " +
         printable(info.request.route) + ")\n";
  for (const auto& [name, value] : info.request.headers) out += "  " + printable(name) + ": " + printable(value) + "\n";
  if (!info.request.body.empty()) out += "  body " + short_body(info.request.body) + "\n";
  out += "inputs (" + std::to_string(e.inputs.size()) + "):\n";
  for (std::size_t i = 0; i < e.inputs.size(); ++i) {
    const OwnedEvent& in = e.inputs[i];
    out += "  #" + std::to_string(i + 1) + " " + printable(in.kind);
    if (!in.key.empty()) out += " \"" + printable(in.key) + "\"";
    if (!in.request.empty()) out += " request " + short_body(in.request);
    out += " -> " + reply_text(in) + "\n";
    if (!in.file.empty()) out += "      at " + printable(in.file) + ":" + std::to_string(in.line) + "\n";
  }
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f ms", s.duration_ms);
  out += "response: " + std::to_string(info.response.status) + " " + short_body(info.response.body) + "  (" + duration +
         ")\n";
  return out;
}

std::string episode_json(const LoadedEpisode& e) {
  const EpisodeInfo& info = e.info;
  boost::json::array headers;
  for (const auto& [name, value] : info.request.headers) headers.push_back(boost::json::array{name.c_str(), value.c_str()});
  boost::json::array inputs;
  for (std::size_t i = 0; i < e.inputs.size(); ++i) {
    const OwnedEvent& in = e.inputs[i];
    boost::json::object o{{"index", i + 1}, {"kind", in.kind}, {"key", in.key}, {"request", in.request},
                          {"result", to_string(in.result_kind)}};
    if (in.result_kind == ResultKind::kInteger) {
      o["integer"] = in.integer;
    } else if (in.result_kind != ResultKind::kNone) {
      o["bytes"] = in.bytes;
    }
    o["call_site"] = boost::json::object{{"file", in.file}, {"line", in.line}, {"function", in.function}};
    inputs.push_back(std::move(o));
  }
  return boost::json::serialize(boost::json::object{
      {"file", e.path.string()},
      {"app", info.app},
      {"build", info.build},
      {"persona", info.request.persona},
      {"time", summarize(e).time},
      {"trace_id", info.trace_id},
      {"request", boost::json::object{{"method", info.request.method},
                                      {"route", info.request.route},
                                      {"target", info.request.target},
                                      {"headers", std::move(headers)},
                                      {"body", info.request.body}}},
      {"inputs", std::move(inputs)},
      {"response", boost::json::object{{"status", info.response.status},
                                       {"body", info.response.body},
                                       {"duration_ns", info.duration_ns}}},
  });
}


}  // namespace snap
