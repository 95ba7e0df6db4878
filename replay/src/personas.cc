// Running personas: each on its own thread with its own context; signals stop them.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <iostream>
#include <system_error>
#include <thread>

#include "lifecycle_private.h"
#include "snap/persona.h"

namespace snap {

namespace {

// std::thread's EAGAIN says only "Resource temporarily unavailable": say what usually runs
// out, so that a persona stopped by its container's process limit is not a riddle.
std::string out_of_processes_hint(const std::exception& e) {
  const auto* system = dynamic_cast<const std::system_error*>(&e);
  if (system == nullptr || system->code() != std::errc::resource_unavailable_try_again) return {};
  return " (a thread could not be started: a container's process and thread limit, `build --pids-limit`, "
         "may be too low for this persona)";
}

}  // namespace

int run_personas(App& app, const std::vector<const Persona*>& personas, const std::vector<std::string>& args,
                 bool stop_after_jobs) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // a persona finished: look again
  // Blocked before any persona thread exists, so every thread inherits the mask and only
  // sigwait below receives these signals.
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &signals, &previous);

  struct Running {
    const Persona* persona;
    std::unique_ptr<PersonaContext> context;
    std::thread thread;
    std::atomic<int> status{0};
    std::atomic<bool> done{false};
  };
  std::vector<std::unique_ptr<Running>> running;
  std::atomic<std::size_t> remaining{personas.size()};
  const pthread_t main_thread = pthread_self();
  for (const Persona* persona : personas) {
    auto r = std::make_unique<Running>();
    r->persona = persona;
    r->context = std::make_unique<PersonaContext>(app, *persona, args);
    running.push_back(std::move(r));
  }
  for (auto& r : running) {
    Running* rp = r.get();
    rp->thread = std::thread([rp, &remaining, main_thread] {
      try {
        rp->status = rp->persona->run(*rp->context);
      } catch (const std::exception& e) {
        std::cerr << "snap: persona " << rp->persona->id().name() << " failed: " << e.what()
                  << out_of_processes_hint(e) << std::endl;
        rp->status = exit_status_for(e);
      }
      rp->done = true;
      remaining.fetch_sub(1);
      pthread_kill(main_thread, SIGUSR1);
    });
  }

  const bool has_jobs = std::any_of(personas.begin(), personas.end(),
                                    [](const Persona* p) { return p->persona_kind() == PersonaKind::kJob; });
  bool stopping = false;
  while (remaining.load() > 0) {
    siginfo_t info{};
    const int sig = sigwaitinfo(&signals, &info);
    if (sig < 0) continue;  // EINTR
    if (stopping) continue;  // a second signal while stopping changes nothing
    const bool any_failed = std::any_of(running.begin(), running.end(),
                                        [](const auto& r) { return r->done.load() && r->status.load() != 0; });
    const bool jobs_done =
        stop_after_jobs && has_jobs && std::all_of(running.begin(), running.end(), [](const auto& r) {
          return r->persona->persona_kind() != PersonaKind::kJob || r->done.load();
        });
    if (sig == SIGINT || sig == SIGTERM || any_failed || jobs_done) {
      stopping = true;
      // A signal this process sent itself (the dev REPL ending) was announced by its sender.
      const bool from_outside = info.si_code != SI_USER || info.si_pid != ::getpid();
      if (sig != SIGUSR1 && from_outside) std::cerr << "snap: " << strsignal(sig) << ": stopping personas" << std::endl;
      for (auto& r : running) {
        stop_persona(*r->context);
      }
    }
  }
  int status = 0;
  for (auto& r : running) {
    r->thread.join();
    if (status == 0) status = r->status;
  }
  // Consume every signal still pending (wake-ups, and a SIGTERM or SIGINT sent again while
  // stopping) so that restoring the mask cannot deliver one and kill a clean shutdown.
  const timespec no_wait{0, 0};
  while (sigtimedwait(&signals, nullptr, &no_wait) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return status;
}

}  // namespace snap
