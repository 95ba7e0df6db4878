// snap/snap.h alone is enough for a program: this file includes nothing else of ours, and
// its header's sample (verbatim below) builds and runs.
#include <gtest/gtest.h>

#include <string>

#include "snap/snap.h"

// ---- program/include/snap/snap.h -----------------------------------------------------
namespace snap_sample {
void define_app(snap::App& app) {
  const auto started = app.membrane().wall_now();  // no second include for the membrane
  app.add<snap::Job>("report", [started](snap::PersonaContext&) { return started.time_since_epoch().count() > 0 ? 0 : 1; });
}
int main(int argc, char** argv) { return snap::run(argc, argv, "my-app", define_app); }
}  // namespace snap_sample

TEST(header_samples, TheUmbrellaHeaderIsAllAProgramNeeds) {
  std::string a0 = "my-app", a1 = "--help";
  char* argv[] = {a0.data(), a1.data(), nullptr};
  EXPECT_EQ(snap_sample::main(2, argv), 0);
  // The job runs in process, reading the startup clock it captured.
  auto app = snap::start_dev_app("my-app", snap_sample::define_app, snap::real_env(), {});
  EXPECT_EQ(snap::run_personas(*app, {app->find_persona("report")}, {}), 0);
}
