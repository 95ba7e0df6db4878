#include "snap/episode.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <random>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "app_private.h"
#include "lifecycle_private.h"
#include "snap/app.h"
#include "snap/divergence.h"
#include "snap/env.h"
#include "snap/log_reader.h"
#include "snap/log_writer.h"
#include "snap/persona.h"
#include "snap/secrets.h"
#include "snap/text.h"
#include "snap/trace.h"

namespace snap {

namespace {

// The events that frame an episode's inputs.
constexpr std::string_view kRequestKind = "episode.request";
constexpr std::string_view kResponseKind = "episode.response";
constexpr std::string_view kFileSuffix = ".episode";

thread_local Episode* t_current = nullptr;

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
std::string file_time(std::int64_t unix_ns) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::snprintf(text, sizeof text, "%04d%02d%02dT%02d%02d%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>((unix_ns / 1'000'000) % 1000));
  return text;
}

// A secret read on replay: the replaying process's own value if it has one, else a
// stand-in (docs/episodes.md, "Secrets").
class ReplaySecrets final : public SecretSource {
 public:
  explicit ReplaySecrets(Env& env) : env_(secrets_from_env("SNAP_SECRET_", env)) {}
  std::optional<std::string> get(std::string_view name) const override {
    if (auto v = env_->get(name)) return v;
    return "snap-replay-stand-in:" + std::string(name);
  }
  std::string describe(std::string_view name) const override { return env_->describe(name); }

 private:
  std::unique_ptr<SecretSource> env_;
};

void collect_differences(const boost::json::value& a, const boost::json::value& b, const std::string& path,
                         std::vector<std::string>& out) {
  constexpr std::size_t kMostShown = 50;
  if (out.size() >= kMostShown) return;
  if (a.is_object() && b.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    std::vector<std::string> names;
    for (const auto& m : x) names.emplace_back(m.key());
    for (const auto& m : y) {
      if (!x.contains(m.key())) names.emplace_back(m.key());
    }
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      const std::string at = path + "." + name;
      const auto* l = x.if_contains(name);
      const auto* r = y.if_contains(name);
      if (l == nullptr) {
        out.push_back(at + ": (absent) -> " + boost::json::serialize(*r));
      } else if (r == nullptr) {
        out.push_back(at + ": " + boost::json::serialize(*l) + " -> (absent)");
      } else {
        collect_differences(*l, *r, at, out);
      }
    }
    return;
  }
  if (a.is_array() && b.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    for (std::size_t i = 0; i < std::max(x.size(), y.size()); ++i) {
      const std::string at = path + "[" + std::to_string(i) + "]";
      if (i >= x.size()) {
        out.push_back(at + ": (absent) -> " + boost::json::serialize(y[i]));
      } else if (i >= y.size()) {
        out.push_back(at + ": " + boost::json::serialize(x[i]) + " -> (absent)");
      } else {
        collect_differences(x[i], y[i], at, out);
      }
    }
    return;
  }
  if (a != b) out.push_back(path + ": " + boost::json::serialize(a) + " -> " + boost::json::serialize(b));
}

std::string short_body(std::string_view body) {
  constexpr std::size_t kShown = 200;
  std::string out = printable(body.substr(0, kShown));
  if (body.size() > kShown) out += "... (" + std::to_string(body.size()) + " bytes)";
  return out;
}

boost::json::value body_json(std::string_view body) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec) return boost::json::value(body);
  return v;
}

}  // namespace

// ---- policy ----

RecordingPolicy RecordingPolicy::parse(std::string_view text) {
  if (text == "off") return {};
  if (text == "errors") return {Mode::kErrors, 0};
  if (text == "all") return {Mode::kAll, 100};
  if (text.size() >= 2 && text.back() == '%') {
    const std::string_view number = text.substr(0, text.size() - 1);
    double percent = -1;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), percent);
    if (ec == std::errc() && end == number.data() + number.size() && percent > 0 && percent <= 100) {
      if (percent == 100) return {Mode::kAll, 100};
      return {Mode::kSample, percent};
    }
  }
  throw std::invalid_argument("the recording policy is off, errors, all or N% (N from 0 to 100, e.g. 5%), not \"" +
                              printable(text) + "\"");
}

std::string RecordingPolicy::str() const {
  switch (mode) {
    case Mode::kOff: return "off";
    case Mode::kErrors: return "errors";
    case Mode::kAll: return "all";
    case Mode::kSample: {
      char text[32];
      std::snprintf(text, sizeof text, "%g%%", percent);
      return text;
    }
  }
  return "off";
}

// ---- the episode on this thread ----

Episode::Episode(App& app)
    : recording_(std::make_unique<EpisodeRecordingMembrane>(app.env(), *AppAccess::of(app).secret_source)) {}

Episode::Episode(Env& env, const SecretSource& secrets, const std::vector<OwnedEvent>& inputs,
                 std::uint64_t first_index)
    : replaying_(std::make_unique<EpisodeReplayingMembrane>(env, secrets, inputs, first_index)) {}

Episode::~Episode() = default;

Membrane& Episode::membrane() {
  if (replaying_) return *replaying_;
  return *recording_;
}

std::vector<OwnedEvent> Episode::take_inputs() { return recording_ ? recording_->take_events() : std::vector<OwnedEvent>{}; }

void Episode::finish_replay() const {
  if (!replaying_) return;
  if (const auto& d = replaying_->divergence()) throw *d;
  replaying_->finish();
}

Episode* current_episode() { return t_current; }

ActiveEpisode::ActiveEpisode(Episode* episode) : previous_(t_current) { t_current = episode; }
ActiveEpisode::~ActiveEpisode() { t_current = previous_; }

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

// ---- the sink ----

EpisodeSink::EpisodeSink(App& app, EpisodeOptions options) : app_(app), options_(std::move(options)) {
  auto& episodes = app.metrics().counter("snap_episodes_total",
                                         "Recorded requests (episodes) by what became of them: written to the "
                                         "episode directory, or dropped because it could not be written.",
                                         {"outcome"});
  written_ = episodes.with({"written"});
  dropped_ = episodes.with({"dropped"});
}

EpisodeSink::~EpisodeSink() = default;

bool EpisodeSink::wants_request() {
  switch (options_.policy.mode) {
    case RecordingPolicy::Mode::kOff: return false;
    case RecordingPolicy::Mode::kErrors:
    case RecordingPolicy::Mode::kAll: return true;
    case RecordingPolicy::Mode::kSample: {
      // Which requests are sampled is no input of theirs: not through any membrane.
      thread_local std::minstd_rand sampler{std::random_device{}()};
      return std::uniform_real_distribution<double>(0, 100)(sampler) < options_.policy.percent;
    }
  }
  return false;
}

bool EpisodeSink::keeps(const FinishedEpisode& episode) const {
  if (options_.policy.mode == RecordingPolicy::Mode::kErrors) return episode.info.response.status >= 500;
  return options_.policy.mode != RecordingPolicy::Mode::kOff;
}

void EpisodeSink::finish(FinishedEpisode episode, spdlog::logger& log) {
  if (keeps(episode)) write(episode, log);
  auto shared = std::make_shared<const FinishedEpisode>(std::move(episode));
  std::lock_guard lock(mutex_);
  auto& ring = ring_[shared->info.request.persona];
  ring.push_back(std::move(shared));
  while (ring.size() > options_.ring_size) ring.pop_front();
}

std::vector<std::shared_ptr<const FinishedEpisode>> EpisodeSink::recent(std::string_view persona) const {
  std::lock_guard lock(mutex_);
  auto it = ring_.find(persona);
  if (it == ring_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void EpisodeSink::scan_directory() {
  Env& env = app_.env();
  env.create_directories(options_.directory);
  std::vector<std::string> names = env.list_directory(options_.directory);
  std::sort(names.begin(), names.end());  // the names start with the time: oldest first
  for (const std::string& name : names) {
    if (!name.ends_with(kFileSuffix)) continue;
    const auto path = options_.directory / name;
    try {
      files_.emplace_back(path, env.open_for_reading(path)->size());
      total_bytes_ += files_.back().second;
    } catch (const std::exception&) {
      // Removed meanwhile, or unreadable: not ours to count.
    }
  }
}

void EpisodeSink::write(FinishedEpisode& episode, spdlog::logger& log) {
  Env& env = app_.env();
  std::lock_guard lock(mutex_);
  try {
    if (!scanned_) {
      scan_directory();
      scanned_ = true;
    }
    const EpisodeInfo& info = episode.info;
    // Sorted by time, then unique within this process; the trace id finds it from a trace.
    std::string service = info.request.persona;
    std::replace(service.begin(), service.end(), '.', '-');
    const std::string name = file_time(info.started_unix_ns) + "-" + service + "-" + info.trace_id.substr(0, 16) + "-" +
                             std::to_string(++sequence_) + std::string(kFileSuffix);
    const auto path = options_.directory / name;
    write_episode(path, info, episode.inputs, env);
    const std::uint64_t size = env.open_for_reading(path)->size();
    files_.emplace_back(path, size);
    total_bytes_ += size;
    while (total_bytes_ > options_.max_bytes && !files_.empty()) {
      env.remove_all(files_.front().first);
      total_bytes_ -= std::min(total_bytes_, files_.front().second);
      files_.pop_front();
    }
    episode.file = path;
    written_.inc();
  } catch (const std::exception& e) {
    dropped_.inc();
    if (!drop_logged_) {
      drop_logged_ = true;
      // Once: a full disk would otherwise log on every failing request.
      log.warn("episodes: cannot write to {} ({}): recorded requests are dropped and counted in "
               "snap_episodes_total{{outcome=\"dropped\"}}",
               printable(options_.directory.string()), e.what());
    }
  }
}

void start_episodes(App& app, EpisodeOptions options) {
  App::Private& p = AppAccess::of(app);
  if (p.episodes) throw std::logic_error("start_episodes: recording has already started for this app");
  if (options.policy.off()) return;
  p.episodes = std::make_unique<EpisodeSink>(app, std::move(options));
}

// ---- replay ----

int EpisodeReplay::exit_status() const {
  switch (outcome) {
    case Outcome::kSame: return kExitOk;
    case Outcome::kResponseDiffers: return kExitFailure;
    case Outcome::kDiverged: return kExitDivergence;
  }
  return kExitFailure;
}

std::string EpisodeReplay::text() const {
  const EpisodeRequest& r = episode.info.request;
  const std::string what = r.method + " " + r.route + " (" + r.persona + ")";
  switch (outcome) {
    case Outcome::kSame:
      return "same: " + what + " answered as recorded: " + std::to_string(replayed.status) + " " +
             short_body(replayed.body) + "\n";
    case Outcome::kResponseDiffers: {
      std::string out = "response differs: " + what + "\n  recorded: " + std::to_string(episode.info.response.status) +
                        " " + short_body(episode.info.response.body) + "\n  replayed: " +
                        std::to_string(replayed.status) + " " + short_body(replayed.body) + "\n";
      for (const std::string& d : differences) out += "  " + printable(d) + "\n";
      return out;
    }
    case Outcome::kDiverged: return "diverged: " + what + "\n" + divergence + "\n";
  }
  return {};
}

std::string EpisodeReplay::json() const {
  static constexpr std::string_view kNames[] = {"same", "response_differs", "diverged"};
  const EpisodeInfo& info = episode.info;
  boost::json::object o{
      {"outcome", kNames[static_cast<int>(outcome)]},
      {"episode", episode.path.string()},
      {"persona", info.request.persona},
      {"endpoint", info.request.method + " " + info.request.route},
      {"trace_id", info.trace_id},
      {"recorded", boost::json::object{{"status", info.response.status}, {"body", body_json(info.response.body)}}},
  };
  if (outcome == Outcome::kDiverged) {
    o["divergence"] = boost::json::object{{"reason", divergence_reason}, {"message", divergence}};
  } else {
    o["replayed"] = boost::json::object{{"status", replayed.status}, {"body", body_json(replayed.body)}};
    boost::json::array diffs;
    for (const std::string& d : differences) diffs.push_back(boost::json::string(d));
    o["differences"] = std::move(diffs);
  }
  return boost::json::serialize(o);
}

std::vector<std::string> json_differences(std::string_view recorded, std::string_view replayed) {
  std::vector<std::string> out;
  boost::system::error_code ec1, ec2;
  const boost::json::value a = boost::json::parse(recorded, ec1);
  const boost::json::value b = boost::json::parse(replayed, ec2);
  if (ec1 || ec2) {
    if (recorded != replayed) out.push_back("body: \"" + short_body(recorded) + "\" -> \"" + short_body(replayed) + "\"");
    return out;
  }
  collect_differences(a, b, "$", out);
  return out;
}

EpisodeReplay replay_episode(App& app, const LoadedEpisode& loaded) {
  EpisodeReplay result;
  result.episode = loaded;
  const EpisodeRequest& request = loaded.info.request;
  const Persona* persona = nullptr;
  for (const Persona* p : app.personas()) {
    if (p->id().str() == request.persona) persona = p;
  }
  if (persona == nullptr) {
    result.outcome = EpisodeReplay::Outcome::kDiverged;
    result.divergence_reason = "episode.no_persona";
    result.divergence = "  the episode was recorded by persona " + printable(request.persona) +
                        ", which this program does not declare";
    return result;
  }
  ReplaySecrets secrets(app.env());
  PersonaContext context(app, *persona, {});
  // Numbered as in the file: event 0 is the request.
  Episode episode(app.env(), secrets, loaded.inputs, 1);
  try {
    try {
      ActiveEpisode active(&episode);
      result.replayed = persona->replay_request(context, request);
    } catch (const Divergence&) {
      throw;
    } catch (const std::exception&) {
      // The handler's error is its response (replay_request answers as the server would);
      // an error here may come from a divergence the handler turned into another one.
      if (!episode.replayer()->divergence()) throw;
    }
    episode.finish_replay();
  } catch (const Divergence& d) {
    result.outcome = EpisodeReplay::Outcome::kDiverged;
    result.divergence_reason = std::string(d.detail());
    result.divergence = "  " + d.report("the episode",
                                        "the handler no longer reads what the episode recorded: a different "
                                        "program, or a different path through this one");
    return result;
  }
  const EpisodeResponse& recorded = loaded.info.response;
  if (result.replayed.status != recorded.status) {
    result.differences.push_back("status: " + std::to_string(recorded.status) + " -> " +
                                 std::to_string(result.replayed.status));
  }
  for (std::string& d : json_differences(recorded.body, result.replayed.body)) result.differences.push_back(std::move(d));
  result.outcome = result.differences.empty() ? EpisodeReplay::Outcome::kSame : EpisodeReplay::Outcome::kResponseDiffers;
  return result;
}

}  // namespace snap

namespace snap {

// ---- replaying files ----

std::vector<std::filesystem::path> episode_files(const std::filesystem::path& path, Env& env) {
  const FileType type = env.file_type(path);
  if (type == FileType::kMissing) {
    throw LogError(LogErrorCode::kNotFound, printable(path.string()) + ": no such episode or directory");
  }
  if (type != FileType::kDirectory) return {path};
  std::vector<std::string> names = env.list_directory(path);
  std::sort(names.begin(), names.end());
  std::vector<std::filesystem::path> out;
  for (const std::string& name : names) {
    if (name.ends_with(kFileSuffix)) out.push_back(path / name);
  }
  if (out.empty()) throw UsageError(printable(path.string()) + ": holds no episode (*.episode)");
  return out;
}

std::filesystem::path find_build_log(const std::filesystem::path& episode, Env& env) {
  std::filesystem::path dir = std::filesystem::absolute(episode).parent_path();
  for (int up = 0; up < 3 && !dir.empty(); ++up, dir = dir.parent_path()) {
    if (env.file_type(dir / kLogFileName) == FileType::kRegular) return dir / kLogFileName;
    if (dir == dir.root_path()) break;
  }
  return {};
}

std::filesystem::path expected_file(const std::filesystem::path& episode) {
  return episode.string() + ".expected.json";
}

int EpisodeRun::exit_status() const {
  int worst = kExitOk;
  for (const EpisodeReplay& r : replays) {
    const int s = r.exit_status();
    if (s == kExitDivergence || (s == kExitFailure && worst == kExitOk)) worst = s;
  }
  return worst;
}

namespace {

// The response an accepted change expects instead of the recorded one.
std::optional<EpisodeResponse> read_expected(const std::filesystem::path& episode, Env& env) {
  const auto path = expected_file(episode);
  if (env.file_type(path) != FileType::kRegular) return std::nullopt;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(env.read_file(path), ec);
  const boost::json::object* o = ec ? nullptr : v.if_object();
  const auto* status = o != nullptr ? o->if_contains("status") : nullptr;
  const auto* body = o != nullptr ? o->if_contains("body") : nullptr;
  if (status == nullptr || !status->is_int64() || body == nullptr || !body->is_string()) {
    throw LogError(LogErrorCode::kCorrupt,
                   printable(path.string()) + ": not an expected response ({\"status\": N, \"body\": TEXT})");
  }
  return EpisodeResponse{static_cast<int>(status->get_int64()), std::string(body->get_string())};
}

void write_expected(const std::filesystem::path& episode, const EpisodeResponse& response, Env& env) {
  const auto path = expected_file(episode);
  const std::string text =
      boost::json::serialize(boost::json::object{{"status", response.status}, {"body", response.body}}) + "\n";
  const auto partial = path.string() + ".partial";
  {
    auto file = env.create_file(partial, std::filesystem::perms(0644));
    file->append(text);
    file->close();
  }
  env.rename(partial, path);
}

}  // namespace

EpisodeRun replay_episode_files(std::string_view app_name, const DefineApp& define, Env& env,
                                const std::vector<std::filesystem::path>& files, const EpisodeRunOptions& options) {
  // Every episode is read before any runs: a damaged one refuses the run (exit 2) rather
  // than ending it half way.
  std::vector<LoadedEpisode> episodes;
  for (const auto& file : files) {
    LoadedEpisode e = read_episode(file, env);
    if (auto expected = read_expected(file, env)) e.info.response = std::move(*expected);
    episodes.push_back(std::move(e));
  }
  auto app = replay_app(app_name, define, env, ReplayOptions{options.log, Mode::kRun, nullptr});
  for (const LoadedEpisode& e : episodes) {
    if (e.info.app != app->id().str()) {
      throw LogError(LogErrorCode::kNotASnapshotLog, printable(e.path.string()) + ": recorded by app \"" +
                                                         printable(e.info.app) + "\", this program is \"" +
                                                         app->id().str() + "\"");
    }
  }
  EpisodeRun run;
  for (const LoadedEpisode& e : episodes) {
    run.replays.push_back(replay_episode(*app, e));
    const EpisodeReplay& r = run.replays.back();
    if (options.accept && r.outcome == EpisodeReplay::Outcome::kResponseDiffers) {
      write_expected(e.path, r.replayed, env);
      run.accepted.push_back(expected_file(e.path));
    }
  }
  return run;
}

}  // namespace snap

namespace snap {

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
  const std::string compact = file_time(unix_ns);  // 20261207T101502.117Z
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
    if (name != id && name != id + std::string(kFileSuffix) && !e.trace_id.starts_with(id)) return false;
  }
  return true;
}

}  // namespace snap

namespace snap {

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
