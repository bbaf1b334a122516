from helpers import cli


def test_bad_config_prints_a_message_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "x.yaml"
    path.write_text("time_unit: fortnights\n")
    assert cli.main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: time_unit must be one of") and "Traceback" not in err


def test_demo_data_writes_csv_files(tmp_path, capsys):
    assert cli.main(["demo-data", str(tmp_path), "--customers", "50"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.csv", "ground_truth.csv", "survey.csv", "transactions.csv"]
