import subprocess
import sys

from proxybench import __version__
from proxybench.cli import main


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    assert main(["--help"]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "proxybench.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout


def test_nb201_info_and_errors(capsys):
    assert main(["nb201", "info", "0"]) == 0
    out = capsys.readouterr().out
    assert "|avg_pool_3x3~0|" in out and "params (M):     0.129306" in out
    assert main(["nb201", "info", "|bad~0|"]) == 2
    assert "expected 3" in capsys.readouterr().err
    assert main(["nb201", "info", "3,3,3"]) == 2
    assert "6 entries" in capsys.readouterr().err
    assert main(["no-such-command"]) == 2
