#include "flakelab/engine/show.h"

#include <google/protobuf/util/json_util.h>
#include <sys/mman.h>

#include <cstdio>

#include "flakelab/engine/error.h"
#include "saved_image.h"

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

std::string show_image_text(const Image& image) {
  const pb::Process& p = image.process;
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
  out += format("mappings %d, %d page runs, %llu bytes of page data\n", p.vmas_size(), p.pages_size(),
                static_cast<ull>(image.pages.size()));
  for (const auto& v : p.vmas())
    out += format("  %012llx-%012llx %s %-16s %s\n", static_cast<ull>(v.start()), static_cast<ull>(v.end()),
                  prot_text(v.prot()).c_str(), pb::VmaKind_Name(v.kind()).c_str(), v.name().c_str());
  out += format("fds %d (%d open files, %d pipes)\n", p.fds_size(), p.files_size(), p.pipes_size());
  for (const auto& fd : p.fds()) {
    const auto& f = p.files(static_cast<int>(fd.file()));
    std::string what = f.kind() == pb::FILE_PIPE ? format("pipe:[%llu]", static_cast<ull>(f.pipe_id())) : f.path();
    out += format("  %u -> file %u %s flags 0%o pos %llu%s\n", fd.fd(), fd.file(), what.c_str(), f.flags(),
                  static_cast<ull>(f.pos()), fd.cloexec() ? " cloexec" : "");
  }
  out += show_saved_content(p);
  int handled = 0;
  for (const auto& s : p.sigactions()) handled += s.handler() > 1;  // not SIG_DFL/SIG_IGN
  out += format("signals: %d handlers installed, %d queued process-wide, %d itimers\n", handled,
                p.shared_pending_size(), p.itimers_size());
  return out;
}

std::string show_image_json(const Image& image) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  auto status = google::protobuf::util::MessageToJsonString(image.process, &json, options);
  if (!status.ok()) throw EngineError("show: JSON conversion failed: " + status.ToString());
  while (!json.empty() && (json.back() == '\n' || json.back() == ' ')) json.pop_back();
  if (json.size() < 2 || json.back() != '}') throw EngineError("show: unexpected JSON from protobuf");
  json.pop_back();
  return json + ",\n \"page_data_bytes\": " + std::to_string(image.pages.size()) + "\n}\n";
}

}  // namespace flakelab::engine
