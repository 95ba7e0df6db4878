// plan_deployment: the app's description -> the generated files. A pure function: no
// I/O, no clock, no environment. The service graph (service_graph.cc) decides what runs
// where; the writers (compose.cc, stack.cc, image.cc, scripts.cc) turn it into files.
#include "snap/deploy.h"
#include "writers.h"

namespace snap {

DeployPlan plan_deployment(const DeployInput& input, const DeployOptions& given) {
  using namespace deploy_plan;
  const DeployOptions options = with_published_in_code(input, given);
  const ServiceGraph g = build_service_graph(input, options);
  DeployPlan plan;
  plan.secret_files = g.secret_files;
  plan.binary = "app/" + g.app_file;
  plan.files.push_back({"Dockerfile", dockerfile(g)});
  plan.files.push_back({".dockerignore", dockerignore(g)});
  plan.files.push_back({"docker-compose.yml", compose(g)});
  plan.files.push_back({"docker-stack.yml", stack(g)});
  plan.files.push_back({"image/etc/passwd", passwd(g)});
  plan.files.push_back({"image/etc/group", group(g)});
  plan.files.push_back({"image/etc/nsswitch.conf", "hosts: files dns\n"});
  for (const Service& s : g.services) {
    if (s.records_requests) plan.directories.push_back(episodes_context(s));
    if (s.kind == ServiceKind::kJob) {
      plan.files.push_back({"bin/" + s.name, command_script(g, s), true});
      plan.directories.push_back(job_runs_context(s));
    }
    if (s.kind != ServiceKind::kCommand) continue;
    plan.files.push_back({"bin/" + s.name, command_script(g, s), true});
    plan.files.push_back({"bin/stack/" + s.name, stack_command_script(g, s), true});
  }
  if (g.any_recording) {
    plan.files.push_back({"bin/" + std::string(kEpisodesScript), episodes_script(g), true});
    plan.files.push_back({"bin/stack/" + std::string(kEpisodesScript), stack_episodes_script(g), true});
  }
  add_volume_state(g, plan);
  for (const Service& s : g.services) plan.reaches.emplace_back(s.name, s.targets);
  add_observability_files(g, plan);
  return plan;
}

}  // namespace snap
