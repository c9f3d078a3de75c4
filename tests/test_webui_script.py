"""Loading the extension the way the webui does: script file, callbacks, settings, hints, install.py."""
import ast
import importlib.util
import re
import sys

from helpers_webui import REPO, STUB, load_script, start, webui  # noqa: F401 (fixture)

EXPECTED_CALLBACKS = ("before_ui", "ui_settings", "ui_train_tabs", "before_component", "after_component", "app_started",
                      "model_loaded", "infotext_pasted", "script_unloaded")


def test_script_registers_one_callback_per_event(webui):
    m = webui.modules
    load_script()
    for category in EXPECTED_CALLBACKS:
        callbacks = m.script_callbacks.callback_map[f"callbacks_{category}"]
        assert len(callbacks) == 1, category
        assert callbacks[0].name.endswith(f"/{category}/hypernet_ext")
    registered = {c for c, lst in m.script_callbacks.callback_map.items() if lst}
    assert registered == {f"callbacks_{c}" for c in EXPECTED_CALLBACKS}


def test_script_is_thin():
    source = (REPO / "scripts" / "hypernet_ext_webui.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert all(isinstance(n, ast.ImportFrom) and n.module.startswith("hypernet_ext.webui") for n in imports)
    assert len(source.splitlines()) < 10


def test_reloading_the_script_does_not_double_register(webui):
    m = webui.modules
    load_script()
    m.script_callbacks.clear_callbacks()  # what the webui does before "Reload UI" re-imports scripts
    load_script()
    assert len(m.script_callbacks.callback_map["callbacks_before_ui"]) == 1


def test_settings_are_registered_with_sections_and_hints(webui):
    m = start(webui).modules
    from hypernet_ext.webui.settings import SECTION, SETTINGS, TRAINING_SECTION
    labels = m.shared.opts.data_labels
    for setting in SETTINGS:
        info = labels[setting.key]
        assert info.section in (SECTION, TRAINING_SECTION)
        assert info.label == setting.label and info.default == setting.default
        assert setting.hint.split(";")[0][:20] in info.comment_after
        assert getattr(m.shared.opts, setting.key) == setting.default
    assert labels["hypernet_ext_default_strength"].component.__name__ == "Slider"


def test_settings_fall_back_to_defaults_before_registration(webui):
    from hypernet_ext.webui import settings
    assert settings.option("hypernet_ext_default_strength") == 1.0
    assert settings.hypernetwork_folders() == [str(webui.folder)]


def test_extra_folders_split_on_lines_and_semicolons(webui):
    m = start(webui).modules
    from hypernet_ext.webui import settings
    m.shared.opts.set("hypernet_ext_extra_dirs", f"{webui.tmp}/one;{webui.tmp}/two\n {webui.folder} \n")
    assert settings.hypernetwork_folders() == [str(webui.folder), f"{webui.tmp}/one", f"{webui.tmp}/two"]
    assert settings.split_folders(r"C:\hn\a; D:\b") == [r"C:\hn\a", r"D:\b"]


def test_every_general_setting_has_a_tooltip():
    from hypernet_ext.webui.settings import GENERAL_SETTINGS
    js = (REPO / "javascript" / "hypernet_ext_hints.js").read_text(encoding="utf-8")
    keys = set(re.findall(r'^\s*"([^"]+)":', js, re.MULTILINE))
    assert keys == {setting.label for setting in GENERAL_SETTINGS}


def _load_install(monkeypatch):
    monkeypatch.syspath_prepend(str(STUB))  # the stand-in `launch` module
    for name in ("launch", "install"):
        sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location("install", REPO / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, sys.modules["launch"]


def test_install_is_quiet_when_everything_is_present(monkeypatch, capsys):
    install, launch = _load_install(monkeypatch)
    launch.pip_commands.clear()
    install.install()
    assert launch.pip_commands == [] and capsys.readouterr().out == ""
    sys.modules.pop("launch", None)


def test_install_uses_the_webui_pip_helper_for_missing_packages(monkeypatch):
    install, launch = _load_install(monkeypatch)
    launch.pip_commands.clear()
    install.install(install.REQUIREMENTS + (("hypernet_ext_missing_pkg", "hypernet-ext-missing-pkg"),))
    assert launch.pip_commands == [('install "hypernet-ext-missing-pkg"',
                                    "hypernet-ext-missing-pkg for hypernet-ext")]
    sys.modules.pop("launch", None)


def _imports_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "modules" or a.name.startswith("modules.")
                                                for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and (node.module == "modules" or node.module.startswith("modules.")):
            return True
    return False


def test_only_the_webui_glue_imports_webui_modules():
    offenders = [str(path.relative_to(REPO)) for path in (REPO / "hypernet_ext").rglob("*.py")
                 if "webui" not in path.relative_to(REPO / "hypernet_ext").parts and _imports_modules(path)]
    assert offenders == []


def test_core_imports_without_touching_the_webui_modules():
    """With the stand-in importable, importing the core must still not import `modules`."""
    import subprocess
    code = ("import sys; import hypernet_ext, hypernet_ext.attach, hypernet_ext.library, "
            "hypernet_ext.prompt_tags, hypernet_ext.storage, hypernet_ext.training.host; "
            "print(sorted(m for m in sys.modules if m == 'modules' or m.startswith('modules.')))")
    env = {**__import__("os").environ, "PYTHONPATH": f"{STUB}{__import__('os').pathsep}{REPO}"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
