// The in-library engine behind the CheckpointEngine interface: flakelab's dump and
// restore called in the trial process, images in a directory.
#include <memory>
#include <string>

#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/restore.h"
#include "flakelab/scenarios/checkpoint_engine.h"

namespace flakelab::scenarios {
namespace {

class LibraryEngine final : public CheckpointEngine {
 public:
  explicit LibraryEngine(spdlog::logger* log) : log_(log) {}
  std::string describe() const override { return "library"; }
  bool is_flakelab() const override { return true; }

  void dump(const EngineDump& request) override {
    engine::DumpOptions options{.leave_running = request.leave_running, .log = log_};
    // The CRIU options the engine has; the others name CRIU features the engine either
    // does without or refuses at dump time, so they are not an error here.
    for (const std::string& option : request.options)
      if (option == "--ext-unix-sk") options.ext_unix_sk = true;
    try {
      engine::dump_process_to_dir(request.pid, request.dir, options);
    } catch (const engine::EngineError& e) {
      throw EngineFailure(prefixed("dump", e.what()));
    }
  }

  pid_t restore(const EngineRestore& request) override {
    engine::RestoreOptions options;
    options.log = log_;
    if (request.unix_gc_wait) options.unix_gc_wait = *request.unix_gc_wait;
    try {
      engine::Image image = engine::read_image_dir(request.dir, engine::PagesCheck::kByRestore);
      return engine::restore_process(image, options);
    } catch (const engine::EngineError& e) {
      throw EngineFailure(prefixed("restore", e.what()));
    }
  }

 private:
  static std::string prefixed(const std::string& step, const std::string& what) {
    return what.rfind(step, 0) == 0 ? what : step + ": " + what;
  }
  spdlog::logger* log_;
};

}  // namespace

std::unique_ptr<CheckpointEngine> make_library_engine(spdlog::logger* log) {
  return std::make_unique<LibraryEngine>(log);
}

}  // namespace flakelab::scenarios
