// replay (run and verify modes): startup replays the log, the component tree is compared
// with the build's manifest, and the whole log is verified before any persona starts.
#include <cstdio>
#include <map>

#include "lifecycle_private.h"
#include "snap/divergence.h"
#include "snap/log_reader.h"
#include "snap/persona.h"

namespace snap {

namespace {

std::string describe_entry(const ComponentEntry& e) {
  std::string s = e.type;
  if (!e.persona.empty()) s += " (" + e.persona + ")";
  if (e.config != "{}") s += " config " + e.config;
  s += " uses [" + join(e.uses) + "]";
  if (!e.secrets.empty()) s += " secrets [" + join(e.secrets) + "]";
  return s;
}

std::string mismatch_message(const std::vector<std::string>& added, const std::vector<std::string>& removed,
                             const std::vector<ManifestMismatch::Change>& changed) {
  std::string m = "the program's components differ from the build's manifest";
  if (!added.empty()) m += "\n  added (not in the build):   " + join(added);
  if (!removed.empty()) m += "\n  removed (only in the build): " + join(removed);
  for (const auto& c : changed) {
    m += "\n  changed: " + c.id;
    if (!c.before.empty()) m += "\n    build:   " + c.before + "\n    program: " + c.after;
  }
  m += "\n  the binary no longer builds the tree this log was made with: rebuild (`build`) to deploy this "
       "program, or keep the old shape for old logs behind membrane.version(...)";
  return m;
}

std::vector<std::string> ids_of(const std::vector<ManifestMismatch::Change>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) out.push_back(c.id);
  return out;
}

class NoSecrets final : public SecretSource {
 public:
  std::optional<std::string> get(std::string_view) const override { return std::nullopt; }
  std::string describe(std::string_view) const override { return "no secret source"; }
};

}  // namespace

ManifestMismatch::ManifestMismatch(std::vector<std::string> added, std::vector<std::string> removed,
                                   std::vector<Change> changes)
    : Error(ErrorCode::kFailedPrecondition, "replay.manifest_mismatch", mismatch_message(added, removed, changes)),
      added_(std::move(added)),
      removed_(std::move(removed)),
      changed_(ids_of(changes)),
      changes_(std::move(changes)) {}

void compare_manifests(const Manifest& recorded, const Manifest& given) {
  // A log from before secret names were recorded says nothing about them: compare the rest.
  Manifest without_secret_names;
  if (!recorded.secret_names_recorded) {
    without_secret_names = given;
    without_secret_names.secret_names_recorded = false;
    for (ComponentEntry& c : without_secret_names.components) c.secrets.clear();
  }
  const Manifest& program = recorded.secret_names_recorded ? given : without_secret_names;
  if (manifest_digest(recorded) == manifest_digest(program) && recorded == program) return;
  std::map<std::string, const ComponentEntry*> before, after;
  for (const auto& c : recorded.components) before[c.id] = &c;
  for (const auto& c : program.components) after[c.id] = &c;
  std::vector<std::string> added, removed;
  std::vector<ManifestMismatch::Change> changed;
  for (const auto& [id, entry] : after) {
    auto it = before.find(id);
    if (it == before.end()) {
      added.push_back(id);
    } else if (!(*it->second == *entry)) {
      changed.push_back({id, describe_entry(*it->second), describe_entry(*entry)});
    }
  }
  for (const auto& [id, entry] : before) {
    if (!after.count(id)) removed.push_back(id);
  }
  if (added.empty() && removed.empty() && changed.empty()) changed.push_back({"(component order)", "", ""});
  throw ManifestMismatch(std::move(added), std::move(removed), std::move(changed));
}

std::unique_ptr<App> replay_app(std::string_view name, const DefineApp& define, Env& env,
                                const ReplayOptions& options) {
  auto reader = LogReader::open(options.log, {}, env);
  if (reader->header().kind == kEpisodeLogKind) {
    throw LogError(LogErrorCode::kNotASnapshotLog,
                   options.log.string() + ": an episode (one recorded request), not a build's log: replay it with `" +
                       std::string(name) + " replay " + options.log.string() + "`");
  }
  if (reader->header().app_name != name) {
    throw LogError(LogErrorCode::kNotASnapshotLog, options.log.string() + ": recorded by app \"" +
                                                       reader->header().app_name + "\", this program is \"" +
                                                       std::string(name) + "\"");
  }
  const Manifest recorded = reader->manifest();
  static const NoSecrets kNoSecrets;

  auto p = private_for(options.mode, env);
  char build_id[24];
  std::snprintf(build_id, sizeof build_id, "%016llx", static_cast<unsigned long long>(reader->trailer().digest));
  p->build_id = std::string(build_id, 12);
  p->secret_source = options.secrets != nullptr ? options.secrets : &kNoSecrets;
  auto replaying = std::make_unique<ReplayingMembrane>(env, NoSecretsAtStartup::instance(), std::move(reader));
  ReplayingMembrane& replayer = *replaying;
  p->startup_membrane = std::move(replaying);
  p->live_membrane = std::make_unique<LiveMembrane>(env, *p->secret_source);

  auto app = AppAccess::make(name, std::move(p));
  // The placement comes from the log; the one given here is never used by replay.
  run_startup(*app, define, []() -> std::string { throw std::logic_error("replay read the build state for real"); },
              Placement::kContainers);
  compare_manifests(recorded, app->manifest());
  replayer.finish();  // every event read, and the whole log verified (digest, count, trailer)
  AppAccess::of(*app).end_startup(options.mode == Mode::kVerify ? Phase::kFinished : Phase::kRuntime);
  return app;
}

}  // namespace snap
