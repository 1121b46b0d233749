#include "flakelab/engine/show.h"

#include <nlohmann/json.hpp>

#include <sys/mman.h>

#include <cstdio>
#include <span>
#include <vector>

#include "flakelab/engine/error.h"
#include "creds_image.h"
#include "image_json.h"
#include "kinds/file_record.h"
#include "saved_image.h"
#include "unix_image.h"

namespace flakelab::engine {
namespace {

std::string format(const char* fmt, auto... args) {
  char buf[512];
  snprintf(buf, sizeof(buf), fmt, args...);
  return buf;
}

std::string prot_text(uint32_t prot) {
  std::string s = "---";
  if (prot & PROT_READ) s[0] = 'r';
  if (prot & PROT_WRITE) s[1] = 'w';
  if (prot & PROT_EXEC) s[2] = 'x';
  return s;
}

}  // namespace

namespace {

// `others`: the tree's other processes (the root's socket records list the sockets they hold).
std::string process_text(const pb::Process& p, const PageBytes& pages, const std::vector<const pb::Process*>& others = {}) {
  using ull = unsigned long long;
  std::string out;
  out += format("process %u \"%s\"%s\n", p.pid(), p.comm().c_str(), p.stopped() ? " (job-control stopped)" : "");
  out += format("  exe %s\n  cwd %s  umask %03o  personality 0x%x\n", p.mm().exe_path().c_str(), p.cwd().c_str(),
                p.umask(), p.personality());
  out += format("threads %d\n", p.threads_size());
  for (const auto& t : p.threads())
    out += format("  tid %u  rip 0x%llx  rsp 0x%llx  blocked 0x%llx  pending %d  xstate %zu bytes\n", t.tid(),
                  static_cast<ull>(t.gp().rip()), static_cast<ull>(t.gp().rsp()), static_cast<ull>(t.blocked()),
                  t.pending_size(), t.xstate().size());
  out += show_credentials(p);
  out += format("mappings %d, %d page runs, %llu bytes of page data\n", p.vmas_size(), p.pages_size(),
                static_cast<ull>(pages.size()));
  for (const auto& v : p.vmas())
    out += format("  %012llx-%012llx %s %-16s %s\n", static_cast<ull>(v.start()), static_cast<ull>(v.end()),
                  prot_text(v.prot()).c_str(), pb::VmaKind_Name(v.kind()).c_str(), v.name().c_str());
  out += format("fds %d (%d open files, %d pipes)\n", p.fds_size(), p.files_size(), p.pipes_size());
  for (const auto& fd : p.fds()) {
    const auto& f = p.files(static_cast<int>(fd.file()));
    std::string what = f.path();
    // A kind with a record of its own names the file (pipe:[N], epoll watches on lines of their own).
    if (const FileRecord* record = file_record(f.kind())) what = record->show(f);
    out += format("  %u -> file %u %s flags 0%o pos %llu%s%s\n", fd.fd(), fd.file(), what.c_str(), f.flags(),
                  static_cast<ull>(f.pos()), fd.cloexec() ? " cloexec" : "",
                  f.tree_file() ? format(" tree file #%u", f.tree_file()).c_str() : "");
  }
  out += show_saved_content(p);
  out += show_unix_sockets(p, others);
  int handled = 0;
  for (const auto& s : p.sigactions()) handled += s.handler() > 1;  // not SIG_DFL/SIG_IGN
  out += format("signals: %d handlers installed, %d queued process-wide, %d itimers\n", handled,
                p.shared_pending_size(), p.itimers_size());
  return out;
}

}  // namespace

std::string show_image_text(const Image& image) {
  std::string out;
  if (!image.tree.processes().empty()) {
    int zombies = 0;
    for (const auto& r : image.tree.processes()) zombies += r.zombie();
    out += format("tree: %d processes (%d zombies)\n", image.tree.processes_size(), zombies);
    for (const auto& r : image.tree.processes()) {
      out += format("  pid %u ppid %u pgid %u sid %u", r.pid(), r.ppid(), r.pgid(), r.sid());
      if (r.zombie()) out += format(" zombie \"%s\" wait status 0x%x", r.comm().c_str(), r.exit_status());
      out += "\n";
    }
  }
  // The root's text also shows the sockets of the tree (recorded with the root).
  std::vector<const pb::Process*> others;
  for (const auto& d : std::span(image.processes).subspan(1)) others.push_back(&d.process);
  out += process_text(image.root().process, image.root().pages, others);
  for (const auto& d : std::span(image.processes).subspan(1)) out += process_text(d.process, d.pages);
  return out;
}

namespace {

// protobuf's JSON mapping writes `bytes` as base64; names and paths are better
// read as text. Returns false (leaving `out` unspecified) for invalid base64.
bool decode_base64(const std::string& in, std::string& out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    i += len;
  }
  return true;
}

// Text fields of the schema that are `bytes` only because Linux names need not be
// UTF-8: shown as strings when they are UTF-8 (the usual case), else left base64.
void decode_names(nlohmann::ordered_json& node) {
  static const char* const kNames[] = {"comm", "cwd", "path", "name", "exe_path", "sender", "external_peer"};
  if (node.is_array()) {
    for (auto& item : node) decode_names(item);
    return;
  }
  if (!node.is_object()) return;
  for (auto& [key, value] : node.items()) {
    bool is_name = false;
    for (const char* n : kNames) is_name = is_name || key == n;
    std::string text;
    if (is_name && value.is_string() && decode_base64(value.get<std::string>(), text) && valid_utf8(text))
      value = text;
    else
      decode_names(value);
  }
}

}  // namespace

namespace {

// protobuf's JSON mapping (gen_image_json.py), names and paths as text.
template <typename M>
nlohmann::ordered_json to_json(const M& m) {
  auto doc = image_json::to_json(m);
  decode_names(doc);
  return doc;
}

}  // namespace

// The root process's fields at the top (as for a single process); a tree adds
// "tree" (the records) and "descendants" (the other live processes).
std::string show_image_json(const Image& image) {
  auto doc = to_json(image.root().process);
  doc["page_data_bytes"] = image.root().pages.size();
  if (!image.tree.processes().empty()) {
    doc["tree"] = to_json(image.tree);
    auto list = nlohmann::ordered_json::array();
    for (const auto& d : std::span(image.processes).subspan(1)) {
      auto one = to_json(d.process);
      one["page_data_bytes"] = d.pages.size();
      list.push_back(std::move(one));
    }
    doc["descendants"] = std::move(list);
  }
  return doc.dump(1) + "\n";
}

std::string image_summary(const Image& image) {
  const auto& p = image.root().process;
  std::string out = std::to_string(p.threads_size()) + " thread(s), " + std::to_string(p.vmas_size()) +
                    " mapping(s), " + std::to_string(p.pages_size()) + " page run(s) = " +
                    std::to_string(image.root().pages.size() / 1024) + " KiB, " + std::to_string(p.fds_size()) +
                    " fd(s)";
  if (image.tree.processes_size() > 1)
    out += "; a tree of " + std::to_string(image.tree.processes_size()) + " processes (" +
           std::to_string(image.processes.size() - 1) + " live descendants)";
  return out;
}

}  // namespace flakelab::engine
