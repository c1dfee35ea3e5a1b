//! Building-alarm and no-data e-mails end to end: a real `hemflux run` with a building worker
//! polling the Arrigo simulator, and the SMTP simulator as the mail server. The alarm is raised
//! in the simulator a few seconds after it starts; "no data" comes from stopping the simulator.

use std::time::Duration;

use hemflux_e2e::browser::add_user;
use hemflux_e2e::session::{read_mails, Browser, PW};
use hemflux_e2e::{wait_for, Orchestrator, Sim};

const T: Duration = Duration::from_secs(60);
const ARRIGO_USER: &str = "kontor-user";
const ARRIGO_PASSWORD: &str = "pw-Zq81-never-logged";
/// TE236_HEM_Kontor.GT_UTE in the simulator.
const GT_UTE: &str = "VEUyMzZfSEVNX0tvbnRvci5HVF9VVEU=";

/// Signs `name` in and saves an address and the events chosen on `/account/notifications`.
fn choose(o: &Orchestrator, name: &str, events: &[&str]) {
    let email = format!("{name}@example.com");
    let mut form = vec![("email", email.as_str())];
    form.extend(events.iter().map(|e| ("notify", *e)));
    let saved = Browser::sign_in(o, name).post("/account/notifications", &form, true);
    assert_eq!(saved.status(), 200);
}

fn mails_to<'a>(mails: &'a [String], who: &str) -> Vec<&'a String> {
    let to = format!("X-Envelope-To: <{who}@example.com>");
    mails.iter().filter(|m| m.contains(&to)).collect()
}

#[test]
fn a_building_alarm_and_a_silent_building_each_send_one_e_mail_to_who_may_see_it() {
    let maildir = tempfile::tempdir().unwrap();
    let mails_in = maildir.path().join("mail");
    let smtp = Sim::start("smtp", &["--maildir", mails_in.to_str().unwrap()]);
    let smtp_port = smtp.address.rsplit(':').next().unwrap();
    let arrigo = arrigo_sim(&["--alarm-after-secs", "10"]);
    // No data for 0.002 h (7.2 s) is "no data"; the building is polled every second.
    let o = Orchestrator::new(&format!(
        "[email]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nfrom = \"hemflux@example.com\"\n\
         starttls = false\ncheck_secs = 1\nno_data_hours = 0.002\n"
    ));
    std::fs::write(
        o.path(".env"),
        format!(
            "BUILDING_kontor_USERNAME={ARRIGO_USER}\nBUILDING_kontor_PASSWORD={ARRIGO_PASSWORD}\n\
             BUILDING_kontor_URL={}\n",
            arrigo.address
        ),
    )
    .unwrap();
    let o = o.start();
    add_user(&o, "owner", "user", PW, &["building:kontor"]);
    add_user(&o, "stranger", "user", PW, &["building:elsewhere"]);
    choose(&o, "owner", &["building_alarm", "no_data"]);
    choose(&o, "stranger", &["building_alarm", "no_data"]);
    o.write_building(
        "kontor.json",
        &format!(
            r#"{{"id": "kontor", "arrigo": {{"base_url": "{}/Arrigo/api", "poll_interval_secs": 1}},
                "signals": [{{"signal_id": "{GT_UTE}", "field": "outdoor_temperature"}}]}}"#,
            arrigo.address
        ),
    );

    // Waits for the first e-mail holding `text`.
    let mail_with = |what: &str, text: &str| {
        wait_for(T, what, || {
            read_mails(&mails_in).into_iter().find(|m| m.contains(text))
        })
    };
    let alarm = mail_with("the alarm e-mail", "alarm");
    assert!(
        alarm.contains("Subject: hemflux: building:kontor raises 1 alarm(s)"),
        "{alarm}"
    );
    assert!(
        alarm.contains("X-Envelope-To: <owner@example.com>"),
        "{alarm}"
    );
    let alarmed = o.query("building_alarms", &[]);
    assert!(
        [0.0, 1.0].iter().all(|n| alarmed
            .iter()
            .any(|p| p["fields"]["count_alarmed"].as_f64() == Some(*n))),
        "the store saw the count rise from 0 to 1: {alarmed:?}"
    );

    let listen = arrigo.address.trim_start_matches("http://").to_string();
    drop(arrigo);
    let silent = mail_with(
        "the no-data e-mail",
        "Subject: hemflux: no data from building:kontor",
    );
    assert!(
        silent.contains("X-Envelope-To: <owner@example.com>"),
        "{silent}"
    );
    // Several more checks pass with the building still silent and the alarm still raised.
    std::thread::sleep(Duration::from_secs(5));
    let mails = read_mails(&mails_in);
    assert_eq!(mails_to(&mails, "owner").len(), 2, "one each: {mails:?}");
    assert!(
        mails_to(&mails, "stranger").is_empty(),
        "the stranger may not see building:kontor: {mails:?}"
    );

    // Data again (the simulator back on its port) clears the condition; silence once more is
    // told once more. The alarm, raised all along, is not told again.
    let arrigo = arrigo_sim(&["--listen", &listen]);
    let fresh = o.query("building_system", &[]).len();
    wait_for(T, "data from the simulator again", || {
        (o.query("building_system", &[]).len() > fresh + 2).then_some(())
    });
    drop(arrigo);
    wait_for(T, "a second no-data e-mail", || {
        let mails = read_mails(&mails_in);
        let silent = mails_to(&mails, "owner")
            .iter()
            .filter(|m| m.contains("Subject: hemflux: no data from"))
            .count();
        (silent == 2).then_some(())
    });
    let mails = read_mails(&mails_in);
    assert_eq!(mails_to(&mails, "owner").len(), 3, "{mails:?}");
    assert!(mails_to(&mails, "stranger").is_empty(), "{mails:?}");
}

fn arrigo_sim(extra: &[&str]) -> Sim {
    let mut args = vec!["--username", ARRIGO_USER, "--password", ARRIGO_PASSWORD];
    args.extend_from_slice(extra);
    Sim::start("arrigo", &args)
}
