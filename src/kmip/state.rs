//! The object state machine (KMIP 2.1 section 4.57, 1.4 section 3.22) as one table: for every state and every
//! event, the state the object moves to, that the event leaves it where it is, or the Result Reason the
//! operation fails with. Operations consult [`transition`] and nothing else; dates that pass move objects
//! through [`effective_state`], so an object whose Activation Date has been reached reads Active without any
//! background process.
//!
//! Result Reasons are given in the 2.1 vocabulary; [`crate::kmip::ResultReason::code_in`] turns Wrong Key
//! Lifecycle State and Object Destroyed into the Permission Denied the 1.x error tables prescribe (1.4 section
//! 11.20 "Object is not in Pre-Active state", 11.22 "Object exists, but has already been destroyed").

use std::fmt;

use crate::kmip::ResultReason;
use crate::spec::enums::state as code;

/// The State attribute's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Exists, not yet to be used.
    PreActive,
    /// May be used for every purpose its usage mask allows.
    Active,
    /// No longer applies protection; may still process protected data.
    Deactivated,
    /// Known compromised.
    Compromised,
    /// Key material destroyed; metadata kept.
    Destroyed,
    /// Key material destroyed, and the object was (or became) compromised.
    DestroyedCompromised,
}

impl State {
    /// Every state, in enumeration order.
    pub const ALL: [State; 6] = [
        State::PreActive,
        State::Active,
        State::Deactivated,
        State::Compromised,
        State::Destroyed,
        State::DestroyedCompromised,
    ];

    /// The enumeration value of the State attribute.
    pub fn code(self) -> u32 {
        match self {
            State::PreActive => code::PRE_ACTIVE,
            State::Active => code::ACTIVE,
            State::Deactivated => code::DEACTIVATED,
            State::Compromised => code::COMPROMISED,
            State::Destroyed => code::DESTROYED,
            State::DestroyedCompromised => code::DESTROYED_COMPROMISED,
        }
    }

    /// The state an enumeration value names, if any.
    pub fn from_code(value: u32) -> Option<State> {
        Self::ALL.into_iter().find(|s| s.code() == value)
    }

    /// Whether the key material is gone.
    pub fn is_destroyed(self) -> bool {
        matches!(self, State::Destroyed | State::DestroyedCompromised)
    }

    /// Row of this state in [`TABLE`].
    fn row(self) -> usize {
        match self {
            State::PreActive => 0,
            State::Active => 1,
            State::Deactivated => 2,
            State::Compromised => 3,
            State::Destroyed => 4,
            State::DestroyedCompromised => 5,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::PreActive => "Pre-Active",
            State::Active => "Active",
            State::Deactivated => "Deactivated",
            State::Compromised => "Compromised",
            State::Destroyed => "Destroyed",
            State::DestroyedCompromised => "Destroyed Compromised",
        })
    }
}

/// What can happen to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// An Activate operation.
    Activate,
    /// The Activation Date has been reached (or set to the past by Modify Attribute).
    ActivationDateReached,
    /// The Deactivation Date has been reached (or set to the past by Modify Attribute).
    DeactivationDateReached,
    /// A Revoke operation; `compromise` when its Revocation Reason Code is Key Compromise or CA Compromise.
    Revoke {
        /// True for a compromise revocation.
        compromise: bool,
    },
    /// A Destroy operation.
    Destroy,
}

impl Event {
    /// Every event, in [`TABLE`] column order.
    pub const ALL: [Event; 6] = [
        Event::Activate,
        Event::ActivationDateReached,
        Event::DeactivationDateReached,
        Event::Revoke { compromise: false },
        Event::Revoke { compromise: true },
        Event::Destroy,
    ];

    /// Column of this event in [`TABLE`].
    fn column(self) -> usize {
        match self {
            Event::Activate => 0,
            Event::ActivationDateReached => 1,
            Event::DeactivationDateReached => 2,
            Event::Revoke { compromise: false } => 3,
            Event::Revoke { compromise: true } => 4,
            Event::Destroy => 5,
        }
    }
}

/// The result of an event in a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The object moves to this state.
    To(State),
    /// The event does not concern the object in this state (a date passing that no transition starts from);
    /// nothing changes and nothing fails.
    Stays,
    /// The operation fails with this reason and nothing changes.
    Refused(ResultReason),
}

use Outcome::{Refused, Stays, To};
use State::{Active, Compromised, Deactivated, Destroyed, DestroyedCompromised};

const WRONG: Outcome = Refused(ResultReason::WrongKeyLifecycleState);
const GONE: Outcome = Refused(ResultReason::ObjectDestroyed);

/// The whole state machine. Rows: [`State::ALL`]; columns: Activate, Activation Date reached, Deactivation Date
/// reached, Revoke (other reason), Revoke (compromise), Destroy. The numbers are the transitions of 2.1 section
/// 4.57; "Only the transitions described above are permitted", so every other operation is refused.
const TABLE: [[Outcome; 6]; 6] = [
    // Pre-Active: 4 (Activate), 4 (date), no date transition to Deactivated, no non-compromise revoke,
    // 3 (compromise), 2 (Destroy).
    [
        To(Active),
        To(Active),
        Stays,
        WRONG,
        To(Compromised),
        To(Destroyed),
    ],
    // Active: 6 (date), 6 (Revoke other), 5 (compromise); Destroy only after revocation (1.4 section 4.21).
    [
        WRONG,
        Stays,
        To(Deactivated),
        To(Deactivated),
        To(Compromised),
        WRONG,
    ],
    // Deactivated: 8 (compromise), 7 (Destroy).
    [WRONG, Stays, Stays, WRONG, To(Compromised), To(Destroyed)],
    // Compromised: 9 (Destroy).
    [WRONG, Stays, Stays, WRONG, WRONG, To(DestroyedCompromised)],
    // Destroyed: 10 (compromise); destroying again is Object Destroyed (1.4 section 11.22).
    [WRONG, Stays, Stays, WRONG, To(DestroyedCompromised), GONE],
    // Destroyed Compromised: the end.
    [WRONG, Stays, Stays, WRONG, WRONG, GONE],
];

/// What `event` does to an object in `state`.
pub fn transition(state: State, event: Event) -> Outcome {
    TABLE
        .get(state.row())
        .and_then(|row| row.get(event.column()))
        .copied()
        .unwrap_or(WRONG)
}

/// The dates that move an object without an operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LifecycleDates {
    /// Activation Date, seconds since the epoch.
    pub activation: Option<i64>,
    /// Deactivation Date, seconds since the epoch.
    pub deactivation: Option<i64>,
}

/// The state an object is in at `now`: its stored state moved on by every date already reached (an Activation
/// Date in the past activates a Pre-Active object; a Deactivation Date in the past deactivates an Active one, also
/// one that the Activation Date just activated).
pub fn effective_state(stored: State, dates: LifecycleDates, now: i64) -> State {
    let mut state = stored;
    let due = [
        (dates.activation, Event::ActivationDateReached),
        (dates.deactivation, Event::DeactivationDateReached),
    ];
    for (date, event) in due {
        if let (true, To(next)) = (date.is_some_and(|d| d <= now), transition(state, event)) {
            state = next;
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::State::PreActive;
    use super::*;

    /// The table written out as the specification's list: (from, event, to). Every pair not listed must be
    /// refused (operations) or leave the state alone (dates).
    const PERMITTED: &[(State, Event, State)] = &[
        (PreActive, Event::Activate, Active),
        (PreActive, Event::ActivationDateReached, Active),
        (PreActive, Event::Revoke { compromise: true }, Compromised),
        (PreActive, Event::Destroy, Destroyed),
        (Active, Event::DeactivationDateReached, Deactivated),
        (Active, Event::Revoke { compromise: false }, Deactivated),
        (Active, Event::Revoke { compromise: true }, Compromised),
        (Deactivated, Event::Revoke { compromise: true }, Compromised),
        (Deactivated, Event::Destroy, Destroyed),
        (Compromised, Event::Destroy, DestroyedCompromised),
        (
            Destroyed,
            Event::Revoke { compromise: true },
            DestroyedCompromised,
        ),
    ];

    #[test]
    fn exactly_the_specified_transitions_are_permitted() {
        for state in State::ALL {
            for event in Event::ALL {
                let listed = PERMITTED
                    .iter()
                    .find(|(s, e, _)| *s == state && *e == event)
                    .map(|(_, _, to)| *to);
                let outcome = transition(state, event);
                match listed {
                    Some(to) => assert_eq!(outcome, To(to), "{state} {event:?}"),
                    None => assert!(
                        !matches!(outcome, To(_)),
                        "{state} {event:?} -> {outcome:?} is not a specified transition"
                    ),
                }
            }
        }
    }

    #[test]
    fn dates_never_fail_and_operations_never_stay() {
        for state in State::ALL {
            for event in Event::ALL {
                let outcome = transition(state, event);
                let is_date = matches!(
                    event,
                    Event::ActivationDateReached | Event::DeactivationDateReached
                );
                if is_date {
                    assert!(!matches!(outcome, Refused(_)), "{state} {event:?}");
                } else {
                    assert!(outcome != Stays, "{state} {event:?}");
                }
            }
        }
    }

    #[test]
    fn refusals_carry_the_specified_reasons() {
        assert_eq!(transition(Active, Event::Activate), WRONG);
        assert_eq!(transition(Deactivated, Event::Activate), WRONG);
        assert_eq!(transition(Active, Event::Destroy), WRONG);
        assert_eq!(transition(Destroyed, Event::Destroy), GONE);
        assert_eq!(transition(DestroyedCompromised, Event::Destroy), GONE);
        assert_eq!(
            transition(PreActive, Event::Revoke { compromise: false }),
            WRONG
        );
        // In 1.x both reach the client as Permission Denied, as the 1.4 error tables give it.
        for reason in [
            ResultReason::WrongKeyLifecycleState,
            ResultReason::ObjectDestroyed,
        ] {
            assert_eq!(
                reason.code_in(crate::kmip::ProtocolVersion::V1_4),
                ResultReason::PermissionDenied.code()
            );
        }
    }

    #[test]
    fn destroyed_states_are_final_except_for_compromise() {
        for event in Event::ALL {
            for from in [Destroyed, DestroyedCompromised] {
                if let To(to) = transition(from, event) {
                    assert_eq!(to, DestroyedCompromised);
                }
            }
        }
    }

    #[test]
    fn codes_round_trip() {
        for s in State::ALL {
            assert_eq!(State::from_code(s.code()), Some(s));
        }
        assert_eq!(State::from_code(0), None);
        assert_eq!(State::from_code(7), None);
        assert_eq!(PreActive.code(), 1);
        assert_eq!(DestroyedCompromised.code(), 6);
    }

    #[test]
    fn effective_state_applies_reached_dates_in_order() {
        let now = 1_000;
        let none = LifecycleDates::default();
        let past = |a: Option<i64>, d: Option<i64>| LifecycleDates {
            activation: a,
            deactivation: d,
        };
        assert_eq!(effective_state(PreActive, none, now), PreActive);
        assert_eq!(
            effective_state(PreActive, past(Some(now), None), now),
            Active
        );
        assert_eq!(
            effective_state(PreActive, past(Some(now + 1), None), now),
            PreActive
        );
        assert_eq!(
            effective_state(PreActive, past(Some(10), Some(20)), now),
            Deactivated
        );
        // A Deactivation Date alone does not move a Pre-Active object: no such transition exists.
        assert_eq!(
            effective_state(PreActive, past(None, Some(20)), now),
            PreActive
        );
        assert_eq!(
            effective_state(Active, past(Some(10), Some(now + 5)), now),
            Active
        );
        assert_eq!(
            effective_state(Active, past(Some(10), Some(now)), now),
            Deactivated
        );
        for s in [Deactivated, Compromised, Destroyed, DestroyedCompromised] {
            assert_eq!(effective_state(s, past(Some(1), Some(2)), now), s);
        }
    }
}
