#include "snap/secrets.h"

#include "snap/env.h"

namespace snap {

std::string env_name_for_secret(std::string_view prefix, std::string_view name) {
  std::string out(prefix);
  for (char c : name) {
    if (c >= 'a' && c <= 'z') {
      out += static_cast<char>(c - 'a' + 'A');
    } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out += c;
    } else {
      out += '_';
    }
  }
  return out;
}

namespace {

// Secret names become file names: refuse anything that could leave the directory.
bool is_plain_file_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

class DirectorySecrets final : public SecretSource {
 public:
  DirectorySecrets(std::filesystem::path dir, Env& env) : dir_(std::move(dir)), env_(env) {}
  std::optional<std::string> get(std::string_view name) const override {
    if (!is_plain_file_name(name)) return std::nullopt;
    const auto path = dir_ / std::string(name);
    if (!env_.file_exists(path)) return std::nullopt;
    std::string value = env_.read_file(path);
    if (!value.empty() && value.back() == '\n') value.pop_back();
    return value;
  }
  std::string describe(std::string_view name) const override { return (dir_ / std::string(name)).string(); }

 private:
  std::filesystem::path dir_;
  Env& env_;
};

class EnvSecrets final : public SecretSource {
 public:
  EnvSecrets(std::string prefix, Env& env) : prefix_(std::move(prefix)), env_(env) {}
  std::optional<std::string> get(std::string_view name) const override {
    return env_.variable(env_name_for_secret(prefix_, name));
  }
  std::string describe(std::string_view name) const override { return "$" + env_name_for_secret(prefix_, name); }

 private:
  std::string prefix_;
  Env& env_;
};

class MapSecrets final : public SecretSource {
 public:
  explicit MapSecrets(std::map<std::string, std::string, std::less<>> values) : values_(std::move(values)) {}
  std::optional<std::string> get(std::string_view name) const override {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  std::string describe(std::string_view name) const override {
    return "the build's secret \"" + std::string(name) + "\"";
  }

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

class ChainSecrets final : public SecretSource {
 public:
  explicit ChainSecrets(std::vector<std::unique_ptr<SecretSource>> sources) : sources_(std::move(sources)) {}
  std::optional<std::string> get(std::string_view name) const override {
    for (const auto& s : sources_) {
      if (auto v = s->get(name)) return v;
    }
    return std::nullopt;
  }
  std::string describe(std::string_view name) const override {
    std::string out;
    for (const auto& s : sources_) {
      if (!out.empty()) out += ", ";
      out += s->describe(name);
    }
    return out.empty() ? "no secret sources" : out;
  }

 private:
  std::vector<std::unique_ptr<SecretSource>> sources_;
};

}  // namespace

std::unique_ptr<SecretSource> secrets_from_directory(std::filesystem::path directory, Env& env) {
  return std::make_unique<DirectorySecrets>(std::move(directory), env);
}
std::unique_ptr<SecretSource> secrets_from_env(std::string prefix, Env& env) {
  return std::make_unique<EnvSecrets>(std::move(prefix), env);
}
std::unique_ptr<SecretSource> secrets_from_map(std::map<std::string, std::string, std::less<>> values) {
  return std::make_unique<MapSecrets>(std::move(values));
}
std::unique_ptr<SecretSource> secrets_from_chain(std::vector<std::unique_ptr<SecretSource>> sources) {
  return std::make_unique<ChainSecrets>(std::move(sources));
}

}  // namespace snap
