# Fallback source build for `node-gyp rebuild`, which node-gyp-build runs at install time when
# neither a prebuild nor an earlier build can be loaded. It does not compile anything itself: it
# drives the CMake build (CMakeLists.txt, the one source of truth for flags) through
# scripts/build-native.mjs (cmake-js in a clone, cmake itself in an installed package) and
# leaves the addon at build/Release/lwsnode.node, where node-gyp-build looks first.
{
  "targets": [
    {
      "target_name": "lwsnode",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_js_build",
          "inputs": ["CMakeLists.txt", "scripts/build-native.mjs", "scripts/fetch-lws.sh"],
          "outputs": ["<(module_root_dir)/build/Release/lwsnode.node"],
          "action": ["node", "<(module_root_dir)/scripts/build-native.mjs"]
        }
      ]
    }
  ]
}
