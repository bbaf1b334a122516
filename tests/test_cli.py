import pytest

from segment_workbench.app import cli


def test_bad_config_prints_a_message_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "x.yaml"
    path.write_text("time_unit: fortnights\n")
    assert cli.main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("error: Config ")
        and "time_unit: 'fortnights' is not an allowed value" in err
        and "Traceback" not in err
    )


def test_demo_data_writes_csv_files(tmp_path, capsys):
    assert cli.main(["demo-data", str(tmp_path), "--customers", "50"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "campaign.csv",
        "customers.csv",
        "ground_truth.csv",
        "survey.csv",
        "transactions.csv",
    ]


@pytest.mark.slow
@pytest.mark.xdist_group("runner")
def test_batch_runs_every_config_and_one_failure_does_not_stop_the_others(tmp_path, capsys):
    configs = tmp_path / "configs"
    configs.mkdir()
    for name, seed in (("shop_a", 1), ("shop_b", 2)):
        (configs / f"{name}.yaml").write_text(
            f"run_name: {name}\nsource: {{kind: synthetic, n_customers: 150, seed: {seed}}}\nsteps: [01_collect, 02_clean]\n"
        )
    (configs / "broken.yaml").write_text(
        "run_name: broken\nsource: {kind: csv, path: missing.csv}\nsteps: [01_collect, 02_clean]\n"
    )
    reports = tmp_path / "reports"
    assert cli.main(["batch", str(configs), "--jobs", "2", "--reports", str(reports)]) == 1
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:4]}
    assert "complete" in lines["shop_a.yaml"] and "complete" in lines["shop_b.yaml"]
    assert (
        "failed" in lines["broken.yaml"]
        and "01_collect failed: InputError: The input file does not exist" in lines["broken.yaml"]
    )
    assert (reports / "shop_a" / "index.html").is_file() and (reports / "shop_b" / "index.html").is_file()
    summary = next(reports.glob("batch-*.html")).read_text()
    assert "2 complete, 1 failed" in summary and "shop_a.yaml" in summary
    assert "01_collect failed: InputError: The input file does not exist" in summary  # the reason, on the page too
