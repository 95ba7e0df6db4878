// What `snapshot diff OLD NEW` reports: how one build of an app differs from another, read
// from their logs alone. Components added, removed and changed (type, persona kind,
// config, uses: before -> after), persona changes (kind, secrets, what each reaches),
// startup inputs that differ, and the deployment plan's changes (services, volumes whose
// data a change orphans, secrets each service mounts, which service reaches which).
//
// Inputs are aligned by (kind, key) and occurrence -- the n-th read of env "REGION" in OLD
// against the n-th in NEW -- not by index, so one added read does not make every later
// one "changed". Call sites are never compared: a rebuilt binary moves lines.
//
// Thread safety: pure functions over values; diff_logs opens its own readers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "snap/api_compat.h"
#include "snap/log.h"

namespace snap {

struct ComponentDiff {
  std::string id;
  std::optional<ComponentEntry> before;  // nullopt: added
  std::optional<ComponentEntry> after;   // nullopt: removed
};

struct PersonaDiff {
  std::string id;
  std::string kind_before, kind_after;  // "" when the persona is new / gone
  std::vector<std::string> secrets_added, secrets_removed;
  std::vector<std::string> reaches_added, reaches_removed;  // component ids
};

struct InputDiff {
  std::string kind;
  std::string key;
  std::uint64_t occurrence = 0;  // 0: the first read of (kind, key)
  std::optional<std::uint64_t> old_index, new_index;  // nullopt: not in that log
  std::string before, after;  // "request ... -> result", as `snapshot inspect` shows them
};

struct PlanDiff {
  // Set when a side cannot be planned (DeployError's message); the rest is then empty.
  std::string old_error, new_error;
  std::vector<std::string> services_added, services_removed;
  std::vector<std::string> volumes_added;
  // "VOLUME (database ID)": the old build had it, the new one does not; its data stays
  // until bin/remove-orphans.
  std::vector<std::string> volumes_orphaned;
  // "ID (table T)": a removed store whose rows nothing reads any more.
  std::vector<std::string> stores_removed;
  std::vector<std::string> secrets_added, secrets_removed;     // "SERVICE: SECRET"
  std::vector<std::string> reach_gained, reach_lost;           // "SERVICE -> SERVICE"
  bool empty() const;
};

struct LogDiff {
  std::string old_path, new_path;
  // Header fields that differ: (field, before, after). "binary" and "writer" differ between
  // any two compilations and do not count towards differs().
  std::vector<std::tuple<std::string, std::string, std::string>> header;
  std::vector<ComponentDiff> added, removed, changed;
  // (removed id, added id) pairs of one type under one parent: probably a rename.
  std::vector<std::pair<std::string, std::string>> renamed;
  std::vector<PersonaDiff> personas;
  std::vector<InputDiff> inputs;
  PlanDiff plan;
  ApiDiff api;  // the API servers' changes, breaking or compatible (snap/api_compat.h)
  bool differs() const;
};

// A path is a log or a build directory (its snapshot.snaplog). Throws LogError for an
// unusable log (nothing is compared then).
LogDiff diff_logs(const std::filesystem::path& old_log, const std::filesystem::path& new_log);

// Text for people: one section per kind of change, empty sections left out; "no
// differences" when there are none. JSON: every section present (empty lists), see
// docs/tools.md.
void diff_text(const LogDiff& diff, std::ostream& out);
void diff_json(const LogDiff& diff, std::ostream& out);

}  // namespace snap
