#include "snap/memory_env.h"

#include <algorithm>
#include <cstring>
#include <functional>

namespace snap {

namespace fs = std::filesystem;

struct MemoryEnv::Node {
  FileType type = FileType::kRegular;
  fs::perms permissions = fs::perms(0644);
  // Shared with the files open on it, so that a rename moves the content they write (as
  // an inode does) and a removed file stays readable to whoever has it open.
  std::shared_ptr<std::string> content = std::make_shared<std::string>();
};

namespace {

// The key of a path in the tree: absolute (relative paths start at "/"), normalized, no
// trailing slash.
std::string key_of(const fs::path& path) {
  fs::path p = (path.is_absolute() ? path : fs::path("/") / path).lexically_normal();
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string parent_of(const std::string& key) {
  const auto slash = key.rfind('/');
  return slash == 0 ? "/" : key.substr(0, slash);
}

// The prefix every descendant of `key` starts with.
std::string children_prefix(const std::string& key) { return key == "/" ? "/" : key + "/"; }

bool is_under(const std::string& candidate, const std::string& key) {
  const std::string prefix = children_prefix(key);
  return candidate.size() > prefix.size() && candidate.compare(0, prefix.size(), prefix) == 0;
}

[[noreturn]] void fail(const std::string& what, const std::string& key, std::errc code) {
  const std::error_code ec = std::make_error_code(code);
  throw FileError(what + " " + key + ": " + ec.message(), ec);
}

// File objects take the env's mutex: the content they share with the tree is guarded by it.
class MemoryWritableFile final : public WritableFile {
 public:
  MemoryWritableFile(std::mutex& mutex, std::shared_ptr<std::string> content, std::string key)
      : mutex_(mutex), content_(std::move(content)), key_(std::move(key)) {}
  void append(std::string_view data) override {
    if (closed_) fail("cannot write", key_, std::errc::bad_file_descriptor);
    std::lock_guard lock(mutex_);
    content_->append(data);
  }
  void sync() override {
    if (closed_) fail("cannot sync", key_, std::errc::bad_file_descriptor);
  }
  void close() override { closed_ = true; }

 private:
  std::mutex& mutex_;
  std::shared_ptr<std::string> content_;
  std::string key_;
  bool closed_ = false;
};

class MemoryRandomAccessFile final : public RandomAccessFile {
 public:
  MemoryRandomAccessFile(std::mutex& mutex, std::shared_ptr<std::string> content)
      : mutex_(mutex), content_(std::move(content)), size_(content_->size()) {}
  std::uint64_t size() const override { return size_; }
  std::size_t read_at(std::uint64_t offset, void* out, std::size_t size) override {
    std::lock_guard lock(mutex_);
    if (offset >= content_->size()) return 0;
    const std::size_t n = std::min<std::uint64_t>(size, content_->size() - offset);
    std::memcpy(out, content_->data() + offset, n);
    return n;
  }

 private:
  std::mutex& mutex_;
  std::shared_ptr<std::string> content_;
  std::uint64_t size_;
};

}  // namespace

class MemoryLock final : public FileLock {
 public:
  MemoryLock(std::function<void()> release) : release_(std::move(release)) {}
  ~MemoryLock() override { release_(); }

 private:
  std::function<void()> release_;
};

MemoryEnv::MemoryEnv(std::int64_t seed) : seed_(seed) {
  Node root;
  root.type = FileType::kDirectory;
  root.permissions = fs::perms(0755);
  tree_.emplace("/", std::move(root));
}

MemoryEnv::~MemoryEnv() = default;

// ---- test controls ----

void MemoryEnv::advance(std::chrono::nanoseconds duration) {
  std::lock_guard lock(mutex_);
  if (duration > duration.zero()) elapsed_ += duration;
}

void MemoryEnv::set_tick(std::chrono::nanoseconds tick) {
  std::lock_guard lock(mutex_);
  tick_ = tick;
}

std::chrono::nanoseconds MemoryEnv::steady_elapsed() const {
  std::lock_guard lock(mutex_);
  return elapsed_;
}

std::chrono::nanoseconds MemoryEnv::slept() const {
  std::lock_guard lock(mutex_);
  return slept_;
}

void MemoryEnv::set_variable(const std::string& name, std::string value) {
  std::lock_guard lock(mutex_);
  variables_[name] = std::move(value);
}

std::vector<std::string> MemoryEnv::paths() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [key, node] : tree_) {
    if (key != "/") out.push_back(key);
  }
  return out;
}

// ---- clocks, randomness, variables ----

std::chrono::nanoseconds MemoryEnv::tick_reading() {
  ++calls_;
  std::lock_guard lock(mutex_);
  elapsed_ += tick_;
  return elapsed_;
}

std::chrono::system_clock::time_point MemoryEnv::wall_now() {
  const auto at = tick_reading();
  const std::chrono::nanoseconds start(1'700'000'000'000'000'000 + seed_ * 1'000'000);
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(start + at));
}

std::chrono::steady_clock::time_point MemoryEnv::steady_now() {
  // Starts well above zero: code may subtract a timeout from a reading.
  const auto at = tick_reading();
  return std::chrono::steady_clock::time_point(std::chrono::hours(1) + at);
}

void MemoryEnv::sleep_for(std::chrono::nanoseconds duration) {
  ++calls_;
  if (duration <= duration.zero()) return;
  std::lock_guard lock(mutex_);
  elapsed_ += duration;
  slept_ += duration;
}

void MemoryEnv::random_bytes(void* out, std::size_t size) {
  ++calls_;
  std::lock_guard lock(mutex_);
  auto* p = static_cast<unsigned char*>(out);
  for (std::size_t i = 0; i < size; ++i) {
    p[i] = static_cast<unsigned char>((random_counter_++ * 131 + static_cast<std::uint64_t>(seed_) * 7) & 0xff);
  }
}

std::optional<std::string> MemoryEnv::variable(const std::string& name) {
  ++calls_;
  std::lock_guard lock(mutex_);
  auto it = variables_.find(name);
  if (it == variables_.end()) return std::nullopt;
  return it->second;
}

// ---- files ----

MemoryEnv::Node* MemoryEnv::find(const std::string& key) {
  auto it = tree_.find(key);
  return it == tree_.end() ? nullptr : &it->second;
}

void MemoryEnv::require_parent(const char* what, const std::string& key) {
  const Node* parent = find(parent_of(key));
  if (parent == nullptr) fail(what, key, std::errc::no_such_file_or_directory);
  if (parent->type != FileType::kDirectory) fail(what, key, std::errc::not_a_directory);
}

std::string MemoryEnv::read_file(const fs::path& path) {
  ++calls_;
  const std::string key = key_of(path);
  std::lock_guard lock(mutex_);
  const Node* node = find(key);
  if (node == nullptr) fail("cannot read", key, std::errc::no_such_file_or_directory);
  if (node->type == FileType::kDirectory) fail("cannot read", key, std::errc::is_a_directory);
  return *node->content;
}

FileType MemoryEnv::file_type(const fs::path& path) {
  ++calls_;
  std::lock_guard lock(mutex_);
  const Node* node = find(key_of(path));
  return node == nullptr ? FileType::kMissing : node->type;
}

std::vector<std::string> MemoryEnv::list_directory(const fs::path& path) {
  ++calls_;
  const std::string key = key_of(path);
  std::lock_guard lock(mutex_);
  const Node* node = find(key);
  if (node == nullptr) fail("cannot list", key, std::errc::no_such_file_or_directory);
  if (node->type != FileType::kDirectory) fail("cannot list", key, std::errc::not_a_directory);
  const std::string prefix = children_prefix(key);
  std::vector<std::string> names;
  for (auto it = tree_.lower_bound(prefix); it != tree_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    const std::string rest = it->first.substr(prefix.size());
    if (!rest.empty() && rest.find('/') == std::string::npos) names.push_back(rest);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::unique_ptr<RandomAccessFile> MemoryEnv::open_for_reading(const fs::path& path) {
  ++calls_;
  const std::string key = key_of(path);
  std::lock_guard lock(mutex_);
  const Node* node = find(key);
  if (node == nullptr) fail("cannot open", key, std::errc::no_such_file_or_directory);
  if (node->type == FileType::kDirectory) fail("cannot open", key, std::errc::is_a_directory);
  return std::make_unique<MemoryRandomAccessFile>(mutex_, node->content);
}

std::unique_ptr<WritableFile> MemoryEnv::create_file(const fs::path& path, fs::perms permissions) {
  ++calls_;
  const std::string key = key_of(path);
  std::lock_guard lock(mutex_);
  require_parent("cannot create", key);
  Node* node = find(key);
  if (node != nullptr && node->type == FileType::kDirectory) fail("cannot create", key, std::errc::is_a_directory);
  if (node == nullptr) node = &tree_[key];
  node->content->clear();
  node->permissions = permissions;
  return std::make_unique<MemoryWritableFile>(mutex_, node->content, key);
}

void MemoryEnv::create_directories(const fs::path& path) {
  ++calls_;
  const std::string key = key_of(path);
  std::lock_guard lock(mutex_);
  std::string at;
  for (const auto& part : fs::path(key).relative_path()) {
    at += "/" + part.string();
    Node* node = find(at);
    if (node == nullptr) {
      Node dir;
      dir.type = FileType::kDirectory;
      dir.permissions = fs::perms(0755);
      tree_.emplace(at, std::move(dir));
    } else if (node->type != FileType::kDirectory) {
      fail("cannot create directory", key, std::errc::not_a_directory);
    }
  }
}

void MemoryEnv::set_permissions(const fs::path& path, fs::perms permissions) {
  ++calls_;
  const std::string key = key_of(path);
  std::lock_guard lock(mutex_);
  Node* node = find(key);
  if (node == nullptr) fail("cannot set the permissions of", key, std::errc::no_such_file_or_directory);
  node->permissions = permissions;
}

void MemoryEnv::rename(const fs::path& from, const fs::path& to) {
  ++calls_;
  const std::string source = key_of(from), target = key_of(to);
  const std::string what = "cannot rename " + source + " to";
  std::lock_guard lock(mutex_);
  const Node* moving = find(source);
  if (moving == nullptr) fail(what, target, std::errc::no_such_file_or_directory);
  if (source == target) return;
  if (is_under(target, source)) fail(what, target, std::errc::invalid_argument);
  require_parent(what.c_str(), target);
  if (const Node* existing = find(target)) {
    if (existing->type == FileType::kDirectory && moving->type != FileType::kDirectory) {
      fail(what, target, std::errc::is_a_directory);
    }
    if (existing->type != FileType::kDirectory && moving->type == FileType::kDirectory) {
      fail(what, target, std::errc::not_a_directory);
    }
    for (const auto& [key, node] : tree_) {
      if (is_under(key, target)) fail(what, target, std::errc::directory_not_empty);
    }
    tree_.erase(target);
  }
  std::map<std::string, Node> moved;
  for (auto it = tree_.begin(); it != tree_.end();) {
    if (it->first == source || is_under(it->first, source)) {
      moved.emplace(target + it->first.substr(source.size()), std::move(it->second));
      it = tree_.erase(it);
    } else {
      ++it;
    }
  }
  tree_.merge(moved);
}

void MemoryEnv::exchange(const fs::path& a, const fs::path& b) {
  ++calls_;
  const std::string first = key_of(a), second = key_of(b);
  const std::string what = "cannot exchange " + first + " and";
  std::lock_guard lock(mutex_);
  if (find(first) == nullptr || find(second) == nullptr) fail(what, second, std::errc::no_such_file_or_directory);
  if (first == second) return;
  if (is_under(first, second) || is_under(second, first)) fail(what, second, std::errc::invalid_argument);
  std::map<std::string, Node> swapped;
  for (auto it = tree_.begin(); it != tree_.end();) {
    if (it->first == first || is_under(it->first, first)) {
      swapped.emplace(second + it->first.substr(first.size()), std::move(it->second));
      it = tree_.erase(it);
    } else if (it->first == second || is_under(it->first, second)) {
      swapped.emplace(first + it->first.substr(second.size()), std::move(it->second));
      it = tree_.erase(it);
    } else {
      ++it;
    }
  }
  tree_.merge(swapped);
}

void MemoryEnv::remove_all(const fs::path& path) {
  ++calls_;
  const std::string key = key_of(path);
  if (key == "/") fail("cannot remove", key, std::errc::permission_denied);
  std::lock_guard lock(mutex_);
  for (auto it = tree_.begin(); it != tree_.end();) {
    it = it->first == key || is_under(it->first, key) ? tree_.erase(it) : std::next(it);
  }
}

void MemoryEnv::sync(const fs::path& path) {
  ++calls_;
  const std::string key = key_of(path);
  std::lock_guard lock(mutex_);
  if (find(key) == nullptr) fail("cannot open", key, std::errc::no_such_file_or_directory);
}

void MemoryEnv::unlock(const std::string& key) {
  std::lock_guard lock(mutex_);
  locked_.erase(key);
}

std::unique_ptr<FileLock> MemoryEnv::try_lock(const fs::path& path, std::string_view holder) {
  ++calls_;
  const std::string key = key_of(path);
  std::lock_guard lock(mutex_);
  require_parent("cannot create the lock", key);
  Node* node = find(key);
  if (node == nullptr) node = &tree_[key];
  if (node->type == FileType::kDirectory) fail("cannot create the lock", key, std::errc::is_a_directory);
  if (!locked_.insert(key).second) return nullptr;
  node->content->assign(holder);
  return std::make_unique<MemoryLock>([this, key] { unlock(key); });
}

void MemoryEnv::set_owner(const fs::path& path, unsigned, unsigned) {
  ++calls_;
  const std::string key = key_of(path);
  std::lock_guard lock(mutex_);
  // Owners are not kept: there are no other users in memory. The path must exist.
  if (find(key) == nullptr) fail("cannot change the owner of", key, std::errc::no_such_file_or_directory);
}

Env::ProgramResult MemoryEnv::run_program(const std::vector<std::string>&, std::string_view) {
  ++calls_;
  return {};  // nothing is installed in memory: 127, as for a missing program
}

}  // namespace snap
