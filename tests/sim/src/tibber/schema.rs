//! The part of Tibber's schema that clients ask for (type and field names as in Tibber's own
//! SDK and pyTibber's queries), and what each field resolves to for the simulated homes.

use std::sync::Arc;

use jiff::civil::Date;
use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::gql::{self, Error, Resolved};
use super::series::{Node, Page, Res};
use super::{round, Sim};

/// The periods of `priceRating`.
#[derive(Clone, Copy, PartialEq)]
pub enum Rating {
    Hourly,
    Daily,
    Monthly,
}

#[derive(Clone)]
pub enum Obj {
    Query,
    Viewer,
    Home(usize),
    Features,
    Address,
    Owner,
    ContactInfo,
    MeteringPoint,
    Subscription(usize),
    PriceInfo(usize, Res),
    Price(usize, Timestamp, Res),
    PriceConnection(usize, Arc<Page<(Timestamp, Res)>>),
    PricePageInfo(usize, Arc<Page<(Timestamp, Res)>>),
    PriceEdge(usize, Timestamp, Res),
    PriceRating(usize),
    Thresholds,
    RatingType(usize, Rating),
    RatingEntry(usize, Timestamp, Rating, f64),
    Connection(Arc<Page<Node>>),
    PageInfo(Arc<Page<Node>>),
    Edge(Node),
    Node(Node),
    /// A home without solar panels: its production connection is empty.
    Production(&'static str),
}

const NO_ARGS: &[&str] = &[];
const PAGING: &[&str] = &["resolution", "first", "last", "before", "after"];
const ENERGY_PAGING: &[&str] = &[
    "resolution",
    "first",
    "last",
    "before",
    "after",
    "filterEmptyNodes",
];

/// The object type of each field that holds objects (scalars are absent).
fn object_type(ty: &str, field: &str) -> Option<&'static str> {
    Some(match (ty, field) {
        ("Query", "viewer") => "Viewer",
        ("Viewer", "homes" | "home") => "Home",
        ("Home" | "LegalEntity", "address") => "Address",
        ("Home", "owner") | ("Subscription", "subscriber") => "LegalEntity",
        ("Home", "meteringPointData") => "MeteringPointData",
        ("Home", "currentSubscription" | "subscriptions") => "Subscription",
        ("Home", "consumption") => "HomeConsumptionConnection",
        ("Home", "production") => "HomeProductionConnection",
        ("Home", "features") => "HomeFeatures",
        ("LegalEntity", "contactInfo") => "ContactInfo",
        ("Subscription", "priceInfo") => "PriceInfo",
        ("Subscription", "priceInfoRange") | ("PriceInfo", "range") => {
            "SubscriptionPriceConnection"
        }
        ("Subscription", "priceRating") => "PriceRating",
        ("PriceInfo", "current" | "today" | "tomorrow")
        | ("SubscriptionPriceConnection", "nodes")
        | ("SubscriptionPriceEdge", "node") => "Price",
        ("SubscriptionPriceConnection", "pageInfo") => "SubscriptionPriceConnectionPageInfo",
        ("SubscriptionPriceConnection", "edges") => "SubscriptionPriceEdge",
        ("PriceRating", "thresholdPercentages") => "PriceRatingThresholdPercentages",
        ("PriceRating", "hourly" | "daily" | "monthly") => "PriceRatingType",
        ("PriceRatingType", "entries") => "PriceRatingEntry",
        ("HomeConsumptionConnection", "pageInfo") => "HomeConsumptionPageInfo",
        ("HomeConsumptionConnection", "nodes") | ("HomeConsumptionEdge", "node") => "Consumption",
        ("HomeConsumptionConnection", "edges") => "HomeConsumptionEdge",
        ("HomeProductionConnection", "pageInfo") => "HomeProductionPageInfo",
        ("HomeProductionConnection", "nodes") | ("HomeProductionEdge", "node") => "Production",
        ("HomeProductionConnection", "edges") => "HomeProductionEdge",
        _ => return None,
    })
}

/// Each type's fields (arguments apart, see `field_args`).
fn fields(ty: &str) -> &'static [&'static str] {
    match ty {
        "Query" => &["viewer"],
        "Viewer" => &[
            "login",
            "userId",
            "name",
            "accountType",
            "homes",
            "home",
            "websocketSubscriptionUrl",
        ],
        "Home" => &[
            "id",
            "timeZone",
            "appNickname",
            "appAvatar",
            "size",
            "type",
            "numberOfResidents",
            "primaryHeatingSource",
            "hasVentilationSystem",
            "mainFuseSize",
            "address",
            "owner",
            "meteringPointData",
            "currentSubscription",
            "subscriptions",
            "consumption",
            "production",
            "features",
        ],
        "HomeFeatures" => &["realTimeConsumptionEnabled"],
        "Address" => &[
            "address1",
            "address2",
            "address3",
            "city",
            "postalCode",
            "country",
            "latitude",
            "longitude",
        ],
        "LegalEntity" => &[
            "id",
            "firstName",
            "isCompany",
            "name",
            "middleName",
            "lastName",
            "organizationNo",
            "language",
            "contactInfo",
            "address",
        ],
        "ContactInfo" => &["email", "mobile"],
        "MeteringPointData" => &[
            "consumptionEan",
            "gridCompany",
            "gridAreaCode",
            "priceAreaCode",
            "productionEan",
            "energyTaxType",
            "vatType",
            "estimatedAnnualConsumption",
        ],
        "Subscription" => &[
            "id",
            "subscriber",
            "validFrom",
            "validTo",
            "status",
            "statusReason",
            "priceInfo",
            "priceInfoRange",
            "priceRating",
        ],
        "PriceInfo" => &["current", "today", "tomorrow", "range"],
        "Price" => &["total", "energy", "tax", "startsAt", "currency", "level"],
        "SubscriptionPriceConnection" => &["pageInfo", "edges", "nodes"],
        "SubscriptionPriceConnectionPageInfo" => &[
            "endCursor",
            "hasNextPage",
            "hasPreviousPage",
            "startCursor",
            "resolution",
            "currency",
            "count",
            "precision",
            "minEnergy",
            "minTotal",
            "maxEnergy",
            "maxTotal",
        ],
        "SubscriptionPriceEdge" => &["cursor", "node"],
        "PriceRating" => &["thresholdPercentages", "hourly", "daily", "monthly"],
        "PriceRatingThresholdPercentages" => &["high", "low"],
        "PriceRatingType" => &[
            "minEnergy",
            "maxEnergy",
            "minTotal",
            "maxTotal",
            "currency",
            "entries",
        ],
        "PriceRatingEntry" => &["time", "energy", "total", "tax", "difference", "level"],
        "HomeConsumptionConnection" | "HomeProductionConnection" => &["pageInfo", "nodes", "edges"],
        "HomeConsumptionPageInfo" => &[
            "startCursor",
            "endCursor",
            "hasPreviousPage",
            "hasNextPage",
            "count",
            "currency",
            "totalCost",
            "totalConsumption",
            "filtered",
        ],
        "HomeProductionPageInfo" => &[
            "startCursor",
            "endCursor",
            "hasPreviousPage",
            "hasNextPage",
            "count",
            "currency",
            "totalProfit",
            "totalProduction",
            "filtered",
        ],
        "HomeConsumptionEdge" | "HomeProductionEdge" => &["cursor", "node"],
        "Production" => &[
            "from",
            "to",
            "unitPrice",
            "unitPriceVAT",
            "production",
            "productionUnit",
            "profit",
            "currency",
        ],
        "Consumption" => &[
            "from",
            "to",
            "unitPrice",
            "unitPriceVAT",
            "consumption",
            "consumptionUnit",
            // Deprecated in the schema, still asked for by pyTibber.
            "totalCost",
            "unitCost",
            "cost",
            "currency",
        ],
        _ => &[],
    }
}

impl gql::Schema for Sim {
    type Obj = Obj;

    fn type_name(&self, obj: &Obj) -> &'static str {
        match obj {
            Obj::Query => "Query",
            Obj::Viewer => "Viewer",
            Obj::Home(_) => "Home",
            Obj::Features => "HomeFeatures",
            Obj::Address => "Address",
            Obj::Owner => "LegalEntity",
            Obj::ContactInfo => "ContactInfo",
            Obj::MeteringPoint => "MeteringPointData",
            Obj::Subscription(_) => "Subscription",
            Obj::PriceInfo(..) => "PriceInfo",
            Obj::Price(..) => "Price",
            Obj::PriceConnection(..) => "SubscriptionPriceConnection",
            Obj::PricePageInfo(..) => "SubscriptionPriceConnectionPageInfo",
            Obj::PriceEdge(..) => "SubscriptionPriceEdge",
            Obj::PriceRating(_) => "PriceRating",
            Obj::Thresholds => "PriceRatingThresholdPercentages",
            Obj::RatingType(..) => "PriceRatingType",
            Obj::RatingEntry(..) => "PriceRatingEntry",
            Obj::Connection(_) => "HomeConsumptionConnection",
            Obj::PageInfo(_) => "HomeConsumptionPageInfo",
            Obj::Edge(_) => "HomeConsumptionEdge",
            Obj::Node(_) => "Consumption",
            Obj::Production(ty) => ty,
        }
    }

    fn field_args(&self, ty: &str, field: &str) -> Option<&'static [&'static str]> {
        fields(ty).contains(&field).then_some(match (ty, field) {
            ("Viewer", "home") => &["id"],
            ("Subscription", "priceInfo") => &["resolution"],
            ("Subscription", "priceInfoRange") | ("PriceInfo", "range") => PAGING,
            ("Home", "consumption" | "production") => ENERGY_PAGING,
            _ => NO_ARGS,
        })
    }

    fn field_type(&self, ty: &str, field: &str) -> Option<&'static str> {
        object_type(ty, field)
    }

    fn resolve(
        &self,
        obj: &Obj,
        field: &str,
        args: &Map<String, Value>,
    ) -> Result<Resolved<Obj>, Error> {
        let s = |v: Value| Ok(Resolved::Scalar(v));
        let object = |o: Obj| Ok(Resolved::Object(o));
        let currency = self.args.currency.as_str();
        match (obj, field) {
            (Obj::Query, "viewer") => object(Obj::Viewer),
            (Obj::Viewer, f) => match f {
                "userId" => s(json!("b1c2d3e4-0000-4000-8000-000000000001")),
                "name" => s(json!("Anna Simulator")),
                "login" => s(json!("anna@example.com")),
                "accountType" => s(json!(["tibber", "customer"])),
                "websocketSubscriptionUrl" => s(json!(
                    "wss://websocket-api.tibber.com/v1-beta/gql/subscriptions"
                )),
                "homes" => Ok(Resolved::List(
                    (0..self.args.homes.len()).map(Obj::Home).collect(),
                )),
                _ => {
                    let id = args.get("id").and_then(Value::as_str).unwrap_or_default();
                    match self.args.homes.iter().position(|h| h == id) {
                        Some(i) => object(Obj::Home(i)),
                        None => Err(Error::field(
                            format!("Could not find home with id {id}"),
                            "NOT_FOUND",
                        )),
                    }
                }
            },
            (Obj::Home(i), f) => match f {
                "id" => s(json!(self.args.homes[*i])),
                "appNickname" => s(json!(format!("Home {}", i + 1))),
                "timeZone" => s(json!(self.args.time_zone)),
                "appAvatar" => s(json!("FLOORHOUSE2")),
                "size" => s(json!(140)),
                "type" => s(json!("HOUSE")),
                "numberOfResidents" => s(json!(3)),
                "primaryHeatingSource" => s(json!("DISTRICT_HEATING")),
                "hasVentilationSystem" => s(json!(false)),
                "mainFuseSize" => s(json!(20)),
                "address" => object(Obj::Address),
                "owner" => object(Obj::Owner),
                "meteringPointData" => object(Obj::MeteringPoint),
                "currentSubscription" => object(Obj::Subscription(*i)),
                "subscriptions" => Ok(Resolved::List(vec![Obj::Subscription(*i)])),
                "features" => object(Obj::Features),
                "production" => {
                    super::series::Energy::parse(
                        args.get("resolution").and_then(Value::as_str).unwrap_or(""),
                    )?;
                    object(Obj::Production("HomeProductionConnection"))
                }
                _ => object(Obj::Connection(Arc::new(self.consumption(*i, args)?))),
            },
            (Obj::Features, _) => s(json!(false)),
            (Obj::Address, f) => s(match f {
                "address1" => json!("Simulatorvägen 1"),
                "city" => json!("Stockholm"),
                "postalCode" => json!("11122"),
                "country" => json!("SE"),
                "latitude" => json!("59.3293"),
                "longitude" => json!("18.0686"),
                _ => Value::Null,
            }),
            (Obj::Owner, f) => match f {
                "contactInfo" => object(Obj::ContactInfo),
                "address" => object(Obj::Address),
                "id" => s(json!("c3d4e5f6-0000-4000-8000-000000000002")),
                "firstName" => s(json!("Anna")),
                "lastName" => s(json!("Simulator")),
                "name" => s(json!("Anna Simulator")),
                "isCompany" => s(json!(false)),
                "language" => s(json!("sv-SE")),
                _ => s(Value::Null),
            },
            (Obj::ContactInfo, "email") => s(json!("anna@example.com")),
            (Obj::ContactInfo, _) => s(json!("+46700000000")),
            (Obj::MeteringPoint, f) => s(match f {
                "consumptionEan" => json!("735999100000000001"),
                "gridCompany" => json!("Simulated Grid AB"),
                "gridAreaCode" => json!("STH"),
                "priceAreaCode" => json!("SE3"),
                "energyTaxType" | "vatType" => json!("normal"),
                "estimatedAnnualConsumption" => json!(12000),
                _ => Value::Null,
            }),
            (Obj::Subscription(i), f) => match f {
                "id" => s(json!(format!("d4e5f6a7-0000-4000-8000-{:012}", i + 1))),
                "subscriber" => object(Obj::Owner),
                "validFrom" => s(json!("2024-01-01T00:00:00.000+01:00")),
                "status" => s(json!("running")),
                "validTo" | "statusReason" => s(Value::Null),
                "priceRating" => object(Obj::PriceRating(*i)),
                "priceInfoRange" => object(Obj::PriceConnection(
                    *i,
                    Arc::new(self.price_range(args, true)?),
                )),
                _ => {
                    let res = match args.get("resolution").and_then(Value::as_str) {
                        None | Some("HOURLY") => Res::Hourly,
                        Some("QUARTER_HOURLY") => Res::Quarter,
                        Some(other) => {
                            return Err(Error::Validation(format!(
                                "Value \"{other}\" does not exist in \"PriceInfoResolution\" enum."
                            )))
                        }
                    };
                    object(Obj::PriceInfo(*i, res))
                }
            },
            (Obj::PriceInfo(i, _), "range") => object(Obj::PriceConnection(
                *i,
                Arc::new(self.price_range(args, false)?),
            )),
            (Obj::PriceInfo(i, res), day) => {
                let now = Timestamp::now().to_zoned(self.tz.clone());
                let today = now.date();
                let starts = match day {
                    "current" => {
                        let t = self
                            .day(today, *res)
                            .into_iter()
                            .rfind(|t| *t <= now.timestamp());
                        return Ok(t.map_or(Resolved::Null, |t| {
                            Resolved::Object(Obj::Price(*i, t, *res))
                        }));
                    }
                    "today" => self.day(today, *res),
                    _ if now.hour() < self.args.publish_hour => Vec::new(),
                    _ => self.day(today.tomorrow().expect("valid"), *res),
                };
                Ok(Resolved::List(
                    starts
                        .into_iter()
                        .map(|t| Obj::Price(*i, t, *res))
                        .collect(),
                ))
            }
            (Obj::Price(i, t, res), f) => {
                let (total, energy, tax) = self.price(*i, *t, *res);
                s(match f {
                    "total" => json!(total),
                    "energy" => json!(energy),
                    "tax" => json!(tax),
                    "startsAt" => json!(self.fmt(*t)),
                    "currency" => json!(currency),
                    _ => json!(Self::level(total)),
                })
            }
            (Obj::PriceConnection(i, p), "pageInfo") => object(Obj::PricePageInfo(*i, p.clone())),
            (Obj::PriceConnection(i, p), "nodes") => Ok(Resolved::List(
                p.nodes
                    .iter()
                    .map(|(t, r)| Obj::Price(*i, *t, *r))
                    .collect(),
            )),
            (Obj::PriceConnection(i, p), _) => Ok(Resolved::List(
                p.nodes
                    .iter()
                    .map(|(t, r)| Obj::PriceEdge(*i, *t, *r))
                    .collect(),
            )),
            (Obj::PricePageInfo(i, p), f) => {
                let prices: Vec<(f64, f64, f64)> = p
                    .nodes
                    .iter()
                    .map(|(t, r)| self.price(*i, *t, *r))
                    .collect();
                let min =
                    |get: fn(&(f64, f64, f64)) -> f64| prices.iter().map(get).reduce(f64::min);
                let max =
                    |get: fn(&(f64, f64, f64)) -> f64| prices.iter().map(get).reduce(f64::max);
                let res = p.nodes.first().map(|(_, r)| match r {
                    Res::Quarter => "QUARTER_HOURLY",
                    Res::Hourly => "HOURLY",
                    Res::Daily => "DAILY",
                });
                match f {
                    "resolution" => s(json!(res)),
                    "currency" => s(json!(currency)),
                    "count" => s(json!(p.nodes.len())),
                    "precision" => s(json!("TWO_DECIMALS")),
                    "minEnergy" => s(json!(min(|p| p.1))),
                    "minTotal" => s(json!(min(|p| p.0))),
                    "maxEnergy" => s(json!(max(|p| p.1))),
                    "maxTotal" => s(json!(max(|p| p.0))),
                    _ => self.page_info(p, f, |(t, _)| *t),
                }
            }
            (Obj::PriceEdge(_, t, _), "cursor") => s(json!(self.cursor(*t))),
            (Obj::PriceEdge(i, t, r), _) => object(Obj::Price(*i, *t, *r)),
            (Obj::PriceRating(_), "thresholdPercentages") => object(Obj::Thresholds),
            (Obj::PriceRating(i), f) => object(Obj::RatingType(
                *i,
                match f {
                    "hourly" => Rating::Hourly,
                    "daily" => Rating::Daily,
                    _ => Rating::Monthly,
                },
            )),
            (Obj::Thresholds, "high") => s(json!(115)),
            (Obj::Thresholds, _) => s(json!(90)),
            (Obj::RatingType(i, res), f) => {
                let entries = self.rating_entries(*i, *res);
                let pick = |get: fn(&(f64, f64, f64)) -> f64, max: bool| {
                    let values = entries.iter().map(|(_, p)| get(p));
                    if max {
                        values.reduce(f64::max)
                    } else {
                        values.reduce(f64::min)
                    }
                };
                match f {
                    "minEnergy" => s(json!(pick(|p| p.1, false))),
                    "maxEnergy" => s(json!(pick(|p| p.1, true))),
                    "minTotal" => s(json!(pick(|p| p.0, false))),
                    "maxTotal" => s(json!(pick(|p| p.0, true))),
                    "currency" => s(json!(currency)),
                    _ => {
                        let mean = entries.iter().map(|(_, p)| p.0).sum::<f64>()
                            / entries.len().max(1) as f64;
                        Ok(Resolved::List(
                            entries
                                .iter()
                                .map(|(t, _)| Obj::RatingEntry(*i, *t, *res, mean))
                                .collect(),
                        ))
                    }
                }
            }
            (Obj::RatingEntry(i, t, res, mean), f) => {
                let (total, energy, tax) = self.rating_price(*i, *t, *res);
                let difference = round((total / mean - 1.0) * 100.0, 2);
                s(match f {
                    "time" => json!(self.fmt(*t)),
                    "energy" => json!(energy),
                    "total" => json!(total),
                    "tax" => json!(tax),
                    "difference" => json!(difference),
                    _ => json!(match difference {
                        d if d > 15.0 => "HIGH",
                        d if d < -10.0 => "LOW",
                        _ => "NORMAL",
                    }),
                })
            }
            (Obj::Production(_), "pageInfo") => object(Obj::Production("HomeProductionPageInfo")),
            (Obj::Production(_), "nodes" | "edges") => Ok(Resolved::List(Vec::new())),
            (Obj::Production(_), f) => s(match f {
                "hasPreviousPage" | "hasNextPage" => json!(false),
                "count" | "filtered" => json!(0),
                "currency" => json!(currency),
                "totalProfit" | "totalProduction" => json!(0.0),
                _ => Value::Null,
            }),
            (Obj::Connection(p), "pageInfo") => object(Obj::PageInfo(p.clone())),
            (Obj::Connection(p), "nodes") => Ok(Resolved::List(
                p.nodes.iter().cloned().map(Obj::Node).collect(),
            )),
            (Obj::Connection(p), _) => Ok(Resolved::List(
                p.nodes.iter().cloned().map(Obj::Edge).collect(),
            )),
            (Obj::PageInfo(p), f) => {
                let cost: f64 = p.nodes.iter().filter_map(|n| n.cost).sum();
                let kwh: f64 = p.nodes.iter().filter_map(|n| n.consumption).sum();
                match f {
                    "count" => s(json!(p.nodes.len())),
                    "currency" => s(json!(currency)),
                    "totalCost" => s(json!(round(cost, 4))),
                    "totalConsumption" => s(json!(round(kwh, 3))),
                    "filtered" => s(json!(p
                        .nodes
                        .iter()
                        .filter(|n| n.consumption.is_none())
                        .count())),
                    _ => self.page_info(p, f, |n| n.from),
                }
            }
            (Obj::Edge(n), "cursor") => s(json!(self.cursor(n.from))),
            (Obj::Edge(n), _) => object(Obj::Node(n.clone())),
            (Obj::Node(n), f) => s(match f {
                "from" => json!(self.fmt(n.from)),
                "to" => json!(self.fmt(n.to)),
                "cost" | "totalCost" => json!(n.cost),
                "unitPrice" | "unitCost" => json!(n.unit_price),
                "unitPriceVAT" => json!(round(n.unit_price * 0.2, 4)),
                "consumption" => json!(n.consumption),
                "consumptionUnit" => json!("kWh"),
                _ => json!(currency),
            }),
            (o, f) => Err(Error::Validation(format!(
                "Cannot query field \"{f}\" on type \"{}\".",
                gql::Schema::type_name(self, o)
            ))),
        }
    }
}

impl Sim {
    /// The cursor and page flags every connection's page info has.
    fn page_info<T>(
        &self,
        p: &Page<T>,
        field: &str,
        from: impl Fn(&T) -> Timestamp,
    ) -> Result<Resolved<Obj>, Error> {
        Ok(Resolved::Scalar(match field {
            "startCursor" => json!(p.nodes.first().map(|n| self.cursor(from(n)))),
            "endCursor" => json!(p.nodes.last().map(|n| self.cursor(from(n)))),
            "hasPreviousPage" => json!(p.has_previous),
            _ => json!(p.has_next),
        }))
    }

    /// `priceRating`'s entries: hours of today (and tomorrow once published), the last 31
    /// days, or the last 12 months, each with its price.
    fn rating_entries(&self, home: usize, res: Rating) -> Vec<(Timestamp, (f64, f64, f64))> {
        let days = self.price_days();
        let today = Timestamp::now().to_zoned(self.tz.clone()).date();
        let times: Vec<Timestamp> = match res {
            Rating::Hourly => days
                .iter()
                .filter(|d| **d >= today)
                .flat_map(|d| self.day(*d, Res::Hourly))
                .collect(),
            Rating::Daily => {
                let past: Vec<Date> = days.into_iter().filter(|d| *d <= today).collect();
                past[past.len().saturating_sub(31)..]
                    .iter()
                    .flat_map(|d| self.day(*d, Res::Daily))
                    .collect()
            }
            Rating::Monthly => {
                let mut months: Vec<_> = days
                    .iter()
                    .filter(|d| **d <= today)
                    .map(|d| d.first_of_month())
                    .collect();
                months.dedup();
                months
                    .into_iter()
                    .rev()
                    .take(12)
                    .rev()
                    .map(|m| m.to_zoned(self.tz.clone()).expect("valid").timestamp())
                    .collect()
            }
        };
        times
            .into_iter()
            .map(|t| (t, self.rating_price(home, t, res)))
            .collect()
    }

    /// A rating entry's price: an hour's, a day's, or a month's mean of its days.
    fn rating_price(&self, home: usize, t: Timestamp, res: Rating) -> (f64, f64, f64) {
        let first = t.to_zoned(self.tz.clone()).date();
        let days: Vec<(f64, f64, f64)> = match res {
            Rating::Hourly => return self.price(home, t, Res::Hourly),
            Rating::Daily => return self.price(home, t, Res::Daily),
            Rating::Monthly => std::iter::successors(Some(first), |d| d.tomorrow().ok())
                .take_while(|d| d.month() == first.month())
                .map(|d| {
                    let start = d.to_zoned(self.tz.clone()).expect("valid").timestamp();
                    self.price(home, start, Res::Daily)
                })
                .collect(),
        };
        let n = days.len() as f64;
        let mean =
            |get: fn(&(f64, f64, f64)) -> f64| round(days.iter().map(get).sum::<f64>() / n, 4);
        (mean(|p| p.0), mean(|p| p.1), mean(|p| p.2))
    }
}
