#include "snap/regression.h"

#include <algorithm>
#include <boost/json.hpp>
#include <sstream>

#include "snap/divergence.h"
#include "snap/log.h"
#include "snap/secrets.h"

namespace snap {

namespace fs = std::filesystem;

namespace {

std::string reason_name(Divergence::Reason r) {
  switch (r) {
    case Divergence::Reason::kDifferentCall: return "different_call";
    case Divergence::Reason::kDifferentRequest: return "different_request";
    case Divergence::Reason::kLogExhausted: return "log_exhausted";
    case Divergence::Reason::kEventsLeftOver: return "events_left_over";
    case Divergence::Reason::kUnsupportedVersion: return "unsupported_version";
  }
  return "unknown";
}

std::string code_name(LogErrorCode c) {
  switch (c) {
    case LogErrorCode::kNotFound: return "not_found";
    case LogErrorCode::kNotASnapshotLog: return "not_a_snapshot_log";
    case LogErrorCode::kIncompatibleVersion: return "incompatible_version";
    case LogErrorCode::kIncomplete: return "incomplete";
    case LogErrorCode::kTruncated: return "truncated";
    case LogErrorCode::kCorrupt: return "corrupt";
    case LogErrorCode::kIo: return "io";
    case LogErrorCode::kUsage: return "usage";
  }
  return "unknown";
}

std::optional<ReplayCall> call_of(const std::optional<Divergence::Call>& c) {
  if (!c) return std::nullopt;
  return ReplayCall{c->kind, c->key, c->request, c->file, c->line, c->function};
}

// Verify checks determinism, not secret values (as `app verify` does).
class Placeholders final : public SecretSource {
 public:
  std::optional<std::string> get(std::string_view name) const override {
    return "<secret " + std::string(name) + " not available to verify>";
  }
  std::string describe(std::string_view name) const override { return "placeholder for " + std::string(name); }
};

boost::json::value call_json(const std::optional<ReplayCall>& c) {
  if (!c) return nullptr;
  return boost::json::object{{"kind", c->kind},          {"key", c->key},   {"request", c->request},
                             {"file", c->file},          {"line", c->line}, {"function", c->function}};
}

boost::json::array strings_json(const std::vector<std::string>& v) {
  boost::json::array a;
  for (const auto& s : v) a.emplace_back(boost::json::string(s));
  return a;
}

std::string show_call(const std::optional<ReplayCall>& c) {
  if (!c) return "(nothing)";
  std::string out = c->kind + " key=\"" + c->key + "\"";
  if (!c->request.empty()) out += " request=\"" + c->request + "\"";
  if (!c->file.empty()) out += " at " + c->file + ":" + std::to_string(c->line) + " (" + c->function + ")";
  return out;
}

}  // namespace

ReplayFailure replay_failure(const fs::path& log, const std::exception& error) {
  ReplayFailure f;
  f.log = log;
  f.message = error.what();
  if (const auto* d = dynamic_cast<const Divergence*>(&error)) {
    f.type = "divergence";
    f.reason = reason_name(d->reason());
    f.event_index = d->index();
    f.expected = call_of(d->expected());
    f.actual = call_of(d->actual());
  } else if (const auto* m = dynamic_cast<const ManifestMismatch*>(&error)) {
    f.type = "manifest_mismatch";
    f.added = m->added();
    f.removed = m->removed();
    f.changed = m->changed();
  } else if (const auto* l = dynamic_cast<const LogError*>(&error)) {
    f.type = "log_error";
    f.reason = code_name(l->code());
  } else {
    f.type = "error";
  }
  return f;
}

std::string divergence_json(const std::exception& error) {
  const ReplayFailure f = replay_failure({}, error);
  boost::json::object o{{"type", f.type},
                        {"reason", f.reason.empty() ? boost::json::value(nullptr) : boost::json::value(f.reason)},
                        {"event_index", f.event_index ? boost::json::value(*f.event_index) : boost::json::value(nullptr)},
                        {"expected", call_json(f.expected)},
                        {"actual", call_json(f.actual)},
                        {"added", strings_json(f.added)},
                        {"removed", strings_json(f.removed)},
                        {"changed", strings_json(f.changed)},
                        {"message", f.message},
                        {"exit_status", exit_status_for(error)}};
  return boost::json::serialize(o);
}

RegressionReport replay_logs(const fs::path& dir, std::string_view app_name, const DefineApp& define, Env& system,
                             const RegressionOptions& options) {
  RegressionReport report;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    ReplayFailure f;
    f.log = dir;
    f.type = "log_error";
    f.reason = ec == std::errc::no_such_file_or_directory ? "not_found" : "io";
    f.message = "cannot list " + dir.string() + ": " + ec.message();
    report.failures.push_back(std::move(f));
    return report;
  }
  for (const fs::directory_entry& e : it) {
    if (e.path().extension() == options.extension) report.replayed.push_back(e.path());
  }
  std::sort(report.replayed.begin(), report.replayed.end());
  const Placeholders placeholders;
  for (const fs::path& log : report.replayed) {
    try {
      replay_app(app_name, define, system,
                 ReplayOptions{log, Mode::kVerify, options.secrets ? options.secrets : &placeholders});
    } catch (const std::exception& error) {
      // Every failure is reported, whatever it is: the point is a full list in one run.
      report.failures.push_back(replay_failure(log, error));
    }
  }
  return report;
}

std::string RegressionReport::describe() const {
  std::ostringstream out;
  out << replayed.size() << " log(s) replayed, " << failures.size() << " failed\n";
  for (const ReplayFailure& f : failures) {
    out << f.log.string() << ": " << f.type;
    if (!f.reason.empty()) out << " (" << f.reason << ")";
    if (f.event_index) out << " at event #" << *f.event_index;
    out << "\n";
    if (f.type == "divergence") {
      out << "  expected: " << show_call(f.expected) << "\n  actual:   " << show_call(f.actual) << "\n";
    }
    out << "  " << f.message << "\n";
  }
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const RegressionReport& report) { return out << report.describe(); }

EpisodeRun replay_episodes(const fs::path& dir, std::string_view app_name, const DefineApp& define, const fs::path& log,
                           Env& system) {
  EpisodeRunOptions options;
  options.log = log;
  return replay_episode_files(app_name, define, system, episode_files(dir, system), options);
}

std::ostream& operator<<(std::ostream& out, const EpisodeRun& run) {
  for (const EpisodeReplay& r : run.replays) {
    if (r.outcome != EpisodeReplay::Outcome::kSame) out << r.episode.path.string() << "\n" << r.text();
  }
  return out;
}

}  // namespace snap
