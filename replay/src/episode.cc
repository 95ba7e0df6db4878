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

using episode_detail::file_time;
using episode_detail::short_body;

namespace {

// The suffix of episode files.
constexpr std::string_view kFileSuffix = kEpisodeFileSuffix;

thread_local Episode* t_current = nullptr;


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


