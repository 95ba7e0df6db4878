// A program whose startup reads every kind of membrane source and prints what it got.
//   membrane_probe record LOG            record (real system; secret db-password from $PROBE_SECRET)
//   membrane_probe replay LOG SECRETS    replay; the secret comes from the directory SECRETS
//   membrane_probe replay-poisoned LOG SECRETS   replay with an Env that aborts if touched
// Prints name=value lines; exit 3 on divergence (kExitDivergence), 2 on a log error.
#include <cstdio>
#include <iostream>
#include <sstream>

#include "snap/log_reader.h"
#include "snap/log_writer.h"
#include "snap/membrane.h"
#include "snap/secrets.h"
#include "snap/env.h"

namespace {

std::string hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : bytes) {
    s += kHex[c >> 4];
    s += kHex[c & 15];
  }
  return s;
}

// Replay must never ask the operating system for a recorded input.
class PoisonedSystem final : public snap::Env {
 public:
  [[noreturn]] static void touched(const char* what) {
    std::fprintf(stderr, "replay touched the real system: %s\n", what);
    std::abort();
  }
  std::chrono::system_clock::time_point wall_now() override { touched("wall_now"); }
  std::chrono::steady_clock::time_point steady_now() override { touched("steady_now"); }
  void random_bytes(void*, std::size_t) override { touched("random_bytes"); }
  std::string read_file(const std::filesystem::path&) override { touched("read_file"); }
  snap::FileType file_type(const std::filesystem::path&) override { touched("file_type"); }
  std::vector<std::string> list_directory(const std::filesystem::path&) override { touched("list_directory"); }
  std::optional<std::string> variable(const std::string&) override { touched("variable"); }
  void sleep_for(std::chrono::nanoseconds) override { touched("sleep_for"); }
  std::unique_ptr<snap::RandomAccessFile> open_for_reading(const std::filesystem::path&) override {
    touched("open_for_reading");
  }
  std::unique_ptr<snap::WritableFile> create_file(const std::filesystem::path&, std::filesystem::perms) override {
    touched("create_file");
  }
  void create_directories(const std::filesystem::path&) override { touched("create_directories"); }
  void set_permissions(const std::filesystem::path&, std::filesystem::perms) override { touched("set_permissions"); }
  void rename(const std::filesystem::path&, const std::filesystem::path&) override { touched("rename"); }
  void exchange(const std::filesystem::path&, const std::filesystem::path&) override { touched("exchange"); }
  void remove_all(const std::filesystem::path&) override { touched("remove_all"); }
  void sync(const std::filesystem::path&) override { touched("sync"); }
  std::unique_ptr<snap::FileLock> try_lock(const std::filesystem::path&, std::string_view) override {
    touched("try_lock");
  }
  void set_owner(const std::filesystem::path&, unsigned, unsigned) override { touched("set_owner"); }
  ProgramResult run_program(const std::vector<std::string>&, std::string_view) override { touched("run_program"); }
};

void startup(snap::Membrane& m, std::ostream& out) {
  out << "wall=" << m.wall_now().time_since_epoch().count() << "\n";
  out << "steady=" << m.steady_now().time_since_epoch().count() << "\n";
  out << "random_bytes=" << hex(m.random_bytes(16)) << "\n";
  out << "random_int=" << m.random_int(1, 1'000'000) << "\n";
  out << "uuid=" << m.uuid() << "\n";
  out << "config=" << m.read_file("config/app.json") << "\n";
  try {
    m.read_file("config/missing.json");
    out << "missing=read\n";
  } catch (const snap::FileError& e) {
    out << "missing=FileError: " << e.what() << "\n";
  }
  out << "exists=" << m.file_exists("config/app.json") << m.file_exists("config/nope") << "\n";
  out << "listing=";
  for (const auto& name : m.list_directory("config")) out << name << ",";
  out << "\n";
  out << "env=" << m.env("PROBE_NAME").value_or("<unset>") << "\n";
  out << "env_unset=" << m.env("PROBE_UNSET").value_or("<unset>") << "\n";
  out << "secret=" << m.secret("db-password") << "\n";
  const std::string reply = m.call("http", "GET /time", "{\"tz\":\"UTC\"}", [&](std::string_view req) {
    return "reply to " + std::string(req) + " #" + std::to_string(std::rand());
  });
  out << "call=" << reply << "\n";
  const auto sum = m.call_json<int>("calc", "add", std::vector<int>{1, 2, 3}, [](const std::vector<int>& v) {
    int s = 0;
    for (int x : v) s += x;
    return s;
  });
  out << "call_json=" << sum << "\n";
  out << "version=" << m.version("probe-v2", snap::Membrane::kDefaultVersion, 1) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: membrane_probe record|replay|replay-poisoned LOG [SECRETS_DIR]\n";
    return 64;
  }
  const std::string mode = argv[1];
  const std::filesystem::path log = argv[2];
  snap::Env* real = &snap::real_env();
  try {
    if (mode == "record") {
      std::srand(static_cast<unsigned>(real->steady_now().time_since_epoch().count()));
      auto secrets = snap::secrets_from_env("PROBE_SECRET_", *real);
      snap::LogHeader header;
      header.app_name = "membrane-probe";
      snap::RecordingMembrane m(*real, *secrets, snap::LogWriter::create(log, header));
      startup(m, std::cout);
      m.finish({});
      return 0;
    }
    if ((mode == "replay" || mode == "replay-poisoned") && argc >= 4) {
      PoisonedSystem poisoned;
      snap::Env& system = mode == "replay" ? *real : poisoned;
      auto secrets = snap::secrets_from_directory(argv[3], *real);
      snap::ReplayingMembrane m(system, *secrets, snap::LogReader::open(log));
      startup(m, std::cout);
      m.finish();
      return 0;
    }
  } catch (const snap::Divergence& d) {
    std::cerr << d.what() << "\n";
    return snap::kExitDivergence;
  } catch (const snap::LogError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  std::cerr << "unknown mode " << mode << "\n";
  return 64;
}
