#include "snap/log.h"

#include "log_error.h"
#include "log_layout.h"
#include "snap/text.h"

namespace snap {

std::string_view to_string(ResultKind kind) {
  switch (kind) {
    case ResultKind::kNone: return "none";
    case ResultKind::kBytes: return "bytes";
    case ResultKind::kInteger: return "integer";
    case ResultKind::kSecretHandle: return "secret";
    case ResultKind::kFailure: return "failure";
  }
  return "unknown";
}

std::string_view to_string(LogErrorCode code) {
  switch (code) {
    case LogErrorCode::kNotFound: return "not found";
    case LogErrorCode::kNotASnapshotLog: return "not a snapshot log";
    case LogErrorCode::kIncompatibleVersion: return "incompatible version";
    case LogErrorCode::kIncomplete: return "incomplete";
    case LogErrorCode::kTruncated: return "truncated";
    case LogErrorCode::kCorrupt: return "corrupt";
    case LogErrorCode::kIo: return "i/o error";
    case LogErrorCode::kUsage: return "usage error";
  }
  return "unknown";
}

namespace {
std::string_view detail_name(LogErrorCode code) {
  switch (code) {
    case LogErrorCode::kNotFound: return "log.not_found";
    case LogErrorCode::kNotASnapshotLog: return "log.not_a_snapshot_log";
    case LogErrorCode::kIncompatibleVersion: return "log.incompatible_version";
    case LogErrorCode::kIncomplete: return "log.incomplete";
    case LogErrorCode::kTruncated: return "log.truncated";
    case LogErrorCode::kCorrupt: return "log.corrupt";
    case LogErrorCode::kIo: return "log.io";
    case LogErrorCode::kUsage: return "log.usage";
  }
  return "log";
}
}  // namespace

LogError::LogError(LogErrorCode code, const std::string& message)
    : Error(ErrorCode::kDataLoss, std::string(detail_name(code)), message), code_(code) {}

namespace {
// Length-prefixed so that ("ab","c") and ("a","bc") differ.
void add_field(layout::Digest& d, std::string_view s) {
  const std::uint64_t n = s.size();
  d.update(&n, sizeof n);
  d.update(s.data(), s.size());
}
}  // namespace

std::uint64_t manifest_digest(const Manifest& manifest) {
  layout::Digest d;
  for (const ComponentEntry& c : manifest.components) {
    add_field(d, c.id);
    add_field(d, c.type);
    add_field(d, c.persona);
    add_field(d, c.config);
    const std::uint64_t n = c.uses.size();
    d.update(&n, sizeof n);
    for (const std::string& u : c.uses) add_field(d, u);
    const std::uint64_t secrets = c.secrets.size();
    d.update(&secrets, sizeof secrets);
    for (const std::string& name : c.secrets) add_field(d, name);
  }
  return d.value();
}

}  // namespace snap

namespace snap::detail {

void throw_log_error(LogErrorCode code, const std::filesystem::path& path, const std::string& detail) {
  // The path is the user's argument (or a log's): shown printable, never as raw escapes.
  std::string message = printable(path.string());
  message += ": ";
  message += to_string(code);
  if (!detail.empty()) {
    message += ": ";
    message += detail;
  }
  throw LogError(code, message);
}

void throw_file_error(const std::filesystem::path& path, const char* what, const FileError& error) {
  const bool missing = error.code() == std::errc::no_such_file_or_directory;
  throw_log_error(missing ? LogErrorCode::kNotFound : LogErrorCode::kIo, path,
                  std::string(what) + ": " + (error.code() ? error.code().message() : std::string(error.what())));
}

}  // namespace snap::detail
