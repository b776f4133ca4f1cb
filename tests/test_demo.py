import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_the_demo_crawls_the_bundled_stand_in_and_prints_rows(tmp_path):
    db = tmp_path / "demo.db"
    done = subprocess.run(
        [sys.executable, "-m", "standin.demo", "--db", str(db)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "demo/postgresql | 250 | 0" in done.stdout
    assert "linux | arm | v7" in done.stdout
