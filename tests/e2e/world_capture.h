// What reached the world: tcpdump on a world-side interface of the lab, for attack
// tests that must show that not one byte of an attack got out. Each attack carries a
// marker in its payload; the test then looks for the marker in the captured bytes.
//
//   WorldCapture capture(*lab_);                  // capturing once this returns
//   const auto marker = attackMarker("dhcp");
//   lab_->run("node", "... --payload " + marker);
//   capture.stop();
//   EXPECT_FALSE(capture.saw(marker)) << capture.packetsWith(marker);
#pragma once

#include <memory>
#include <string>

#include "lab.h"

namespace skouter::e2e {

// "SKOUTER-ATTACK-<random hex>-<what>": unique per call, so the markers of several
// attacks in one capture (and of earlier runs) never stand for one another. `what`
// must be shell-safe ([A-Za-z0-9-]).
std::string attackMarker(const std::string& what);

class WorldCapture {
 public:
  // Starts tcpdump on `interface` of the world namespace (default: the world side of
  // the node's uplink) and returns once it is capturing; throws if it does not start.
  explicit WorldCapture(const Lab& lab, std::string interface = "");
  ~WorldCapture();
  WorldCapture(const WorldCapture&) = delete;
  WorldCapture& operator=(const WorldCapture&) = delete;

  // Gives packets still in flight a moment, then stops tcpdump. Idempotent; saw() and
  // packetsWith() call it.
  void stop();
  // Whether `marker` occurs anywhere in the captured bytes (either direction: an ICMP
  // error the world sent back quotes the packet that reached it).
  bool saw(const std::string& marker);
  // tcpdump's one-line summary of every captured packet that carries `marker`, for
  // failure messages.
  std::string packetsWith(const std::string& marker);

 private:
  std::string bytes();

  std::string interface_;
  std::string directory_;
  std::string file_;
  std::unique_ptr<BackgroundProcess> tcpdump_;
  bool stopped_ = false;
  std::string bytes_;
};

}  // namespace skouter::e2e
