// Helpers for log tests: temporary directories and logs with known content.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "snap/log_reader.h"
#include "snap/log_writer.h"

namespace snap::testing {

// A fresh directory under the system temp dir, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("snap-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline LogHeader test_header() {
  LogHeader h;
  h.app_name = "test-app";
  h.binary_fingerprint = "fingerprint-1";
  h.writer_version = "snap-test";
  return h;
}

inline Manifest test_manifest() {
  Manifest m;
  m.components.push_back({"test-app", "App", "", "{}", {}});
  m.components.push_back({"test-app.api", "ApiServer", "daemon", R"({"port":35000})", {"test-app.db"}});
  m.components.push_back({"test-app.db", "Store", "", "{}", {}, {"db-password"}});
  return m;
}

// Event i of a deterministic mixed stream.
struct SyntheticEvent {
  std::string key, request, bytes;
  EventRecord record;
};

inline SyntheticEvent synthetic_event(std::uint64_t i) {
  SyntheticEvent s;
  static constexpr std::string_view kinds[] = {"clock.wall", "random.bytes", "env", "file.read", "call.http"};
  s.record.kind = kinds[i % 5];
  s.record.call_site = CallSite{"app.cc", static_cast<std::uint32_t>(10 + i % 7), 3, "define_app"};
  switch (i % 5) {
    case 0:
      s.record.result_kind = ResultKind::kInteger;
      s.record.integer = static_cast<std::int64_t>(1'700'000'000'000'000'000 + i * 137);
      break;
    case 1:
      s.bytes = std::to_string(i * 2654435761u);
      s.record.result_kind = ResultKind::kBytes;
      break;
    case 2:
      s.key = "VAR_" + std::to_string(i % 11);
      s.bytes = "value-" + std::to_string(i);
      s.record.result_kind = ResultKind::kBytes;
      break;
    case 3:
      s.key = "/etc/app/" + std::to_string(i % 3) + ".conf";
      s.bytes = "no such file";
      s.record.result_kind = ResultKind::kFailure;
      break;
    default:
      s.key = "GET /users";
      s.request = "{\"id\":" + std::to_string(i) + "}";
      s.bytes = "secret-handle-" + std::to_string(i % 4);
      s.record.result_kind = ResultKind::kSecretHandle;
      break;
  }
  s.record.key = s.key;
  s.record.request = s.request;
  s.record.bytes = s.bytes;
  return s;
}

inline void write_synthetic_log(const std::filesystem::path& path, std::uint64_t count,
                                const LogWriterOptions& options = {}) {
  auto writer = LogWriter::create(path, test_header(), options);
  for (std::uint64_t i = 0; i < count; ++i) writer->append(synthetic_event(i).record);
  writer->finish(test_manifest());
}

}  // namespace snap::testing
